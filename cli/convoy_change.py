"""Changing a running convoy: `add` writes the beads to the CR's spec before the workflow
is told (so nobody who may not edit the Convoy adds to it through Temporal), `cancel` sends
the workflow its cancel update."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from gastown.cli.convoy_view import FINAL, get_convoy
from gastown.cli.output import field
from gastown.cli.session import Failure, Session


async def add_beads(session: Session, name: str, beads: list[str]) -> None:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from gastown.operator.workflow import ConvoyWorkflows

    temporal, obj = await asyncio.gather(
        session.temporal(), asyncio.to_thread(get_convoy, session, name)
    )
    phase = field(obj, "status", "phase", default="Pending")
    if phase in FINAL:
        raise Failure(
            f"convoy {name!r} is {phase}: it takes no more beads; start another with "
            "`kubectl gt convoy create`"
        )
    flows = ConvoyWorkflows(temporal, session.temporal_settings.task_queue)
    ns = session.namespace
    if not await flows.running(ns, name):
        raise Failure(
            f"convoy {name!r} has no running workflow to add beads to; nothing was written"
        )
    new = await asyncio.to_thread(_write_beads, session, obj, beads)
    try:
        progress = await flows.add(ns, name, beads)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause or exc
        raise Failure(f"convoy {name!r} refused the beads: {cause}") from None
    except RPCError as exc:
        raise Failure(
            f"the beads are in convoy {name!r}'s spec, but telling its workflow failed ({exc}); "
            "run the same `kubectl gt convoy add` again"
        ) from None
    already = len(beads) - len(new)
    note = f" ({already} already tracked)" if already else ""
    total = progress.counts.total
    typer.echo(f"Convoy {name}: {len(new)} beads added{note}; {total} beads in all")


def _write_beads(session: Session, obj: dict[str, Any], beads: list[str]) -> list[str]:
    """Merge `beads` into spec.trackedBeads, guarded by resourceVersion (a concurrent writer
    makes the PUT fail with Conflict: read again and merge again). The beads that were new."""
    from gastown.api.convoy import ConvoySpec
    from gastown.cli.validation import validated
    from gastown.kube import CONVOYS, Conflict, reading, writing

    meta = obj["metadata"]
    for _ in range(5):
        tracked = list(field(obj, "spec", "trackedBeads", default=[]))
        new = [b for b in beads if b not in set(tracked)]
        if not new:
            return []
        spec = {**obj["spec"], "trackedBeads": tracked + new}
        validated(ConvoySpec, spec, {"trackedBeads": "bead"})  # e.g. over 1000 beads
        body = {**obj, "spec": spec}
        body.pop("status", None)
        try:
            session.client.run_sync(writing.replace(CONVOYS, body, meta["namespace"]))
        except Conflict:
            obj = session.client.run_sync(reading.get(CONVOYS, meta["name"], meta["namespace"]))
            if obj["metadata"]["uid"] != meta["uid"]:
                raise Failure(f"convoy {meta['name']!r} was replaced meanwhile") from None
            continue
        return new
    raise Failure(f"convoy {meta['name']!r} keeps changing; try again")


async def cancel_convoy(session: Session, name: str, nuke: bool, reason: str) -> None:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from gastown.operator.workflow import ConvoyWorkflows

    temporal, obj = await asyncio.gather(
        session.temporal(), asyncio.to_thread(get_convoy, session, name)
    )
    phase = field(obj, "status", "phase", default="Pending")
    if phase in FINAL:
        raise Failure(f"convoy {name!r} already ended {phase}; nothing to cancel")
    flows = ConvoyWorkflows(temporal, session.temporal_settings.task_queue)
    try:
        progress = await flows.cancel(session.namespace, name, nuke=nuke, reason=reason)
    except WorkflowUpdateFailedError as exc:
        raise Failure(f"convoy {name!r} refused to cancel: {exc.cause or exc}") from None
    except RPCError as exc:
        raise Failure(f"convoy {name!r} has no running workflow to cancel ({exc})") from None
    c = progress.counts
    running = (
        f"{c.running} running polecats nuked"
        if nuke
        else f"{c.running} running polecats left to finish"
    )
    typer.echo(
        f"Convoy {name} cancelled: nothing new is dispatched; {running}; "
        f"{c.done} done, {c.failed} failed, {c.skipped + c.pending} not dispatched"
    )
