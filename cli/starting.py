"""Starting the workflow of a CR the CLI has just created, or taking the CR back.

`sling` and `convoy create` both create a CR as the user and then start its workflow with
the CR's identity; when the start fails nothing half-made may stay behind, so the CR goes
again — by UID, so never another one that took its name meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gastown.cli.session import Failure, Session, api_message

if TYPE_CHECKING:
    from gastown.kube import Resource


async def start_or_delete(
    session: Session,
    resource: Resource,
    created: dict[str, Any],
    start: Callable[[dict[str, Any], datetime], Awaitable[str]],
    *,
    what: str,
    delete: bool = True,
) -> str:
    """`start(metadata, creationTimestamp)`'s workflow run ID; on any error the CR is
    deleted (unless `delete` is False: a rerun's CR was not made now) and a Failure names
    the `what` whose workflow did not start."""
    meta = created["metadata"]
    stamp = datetime.fromisoformat(str(meta["creationTimestamp"]).replace("Z", "+00:00"))
    try:
        return await start(meta, stamp)
    except Exception as exc:
        if delete:
            from gastown.kube import writing

            op = writing.delete(resource, meta["name"], meta["namespace"], uid=meta["uid"])
            await session.client.run(op)
        raise Failure(f"could not start the {what}'s workflow: {api_message(exc)}") from exc
