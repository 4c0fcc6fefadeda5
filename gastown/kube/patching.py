"""Patching: merge patches (optionally guarded by a resourceVersion), JSON patches (list edits
guarded by a `test`), on the object or its status subresource.

A merge patch without a resourceVersion cannot conflict on a healthy server, so its requests
are marked `conflict_is_flaky` (a retrying policy retries a 409 there like a 5xx); with a
resourceVersion, Conflict is the answer "someone wrote first" and always reaches the caller.
"""

from __future__ import annotations

from typing import Any

from gastown.kube.calls import JSON, JSON_PATCH, MERGE_PATCH, Op, Request, one
from gastown.kube.resources import Resource


def _guarded(patch: Any) -> bool:
    meta = patch.get("metadata") if isinstance(patch, dict) else None
    return isinstance(meta, dict) and "resourceVersion" in meta


def merge(
    resource: Resource,
    name: str,
    patch: JSON,
    namespace: str | None = None,
    *,
    status: bool = False,
) -> Op[JSON]:
    """A JSON merge patch (RFC 7386): nested objects merge, lists and nulls replace/delete.
    `status=True` writes the status subresource (the only way status changes on our CRDs)."""
    return one(
        Request(
            "PATCH",
            resource.path(namespace, name, "status" if status else None),
            body=patch,
            content_type=MERGE_PATCH,
            conflict_is_flaky=not _guarded(patch),
        )
    )


def json_patch(
    resource: Resource, name: str, ops: list[JSON], namespace: str | None = None
) -> Op[JSON]:
    """A JSON patch (RFC 6902). A failed `test` is Invalid (422): the list moved."""
    return one(Request("PATCH", resource.path(namespace, name), body=ops, content_type=JSON_PATCH))


def with_version(patch: JSON, resource_version: str) -> JSON:
    """The patch guarded by a resourceVersion: Conflict instead of a write over a newer one."""
    meta = dict(patch.get("metadata") or {})
    meta["resourceVersion"] = resource_version
    return {**patch, "metadata": meta}
