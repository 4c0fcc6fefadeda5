"""Watching one object or a selection: the stream of (type, object) events, in this thread.

For the CLI's `--wait` (one Polecat by field selector). A watch ERROR event is raised as its
KubeError (Gone for an expired resourceVersion), so the caller re-lists and watches again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from gastown.kube.calls import JSON, Request, query
from gastown.kube.client import Kube
from gastown.kube.errors import from_status
from gastown.kube.resources import Resource


def watch(
    kube: Kube,
    resource: Resource,
    namespace: str | None = None,
    *,
    field_selector: str | None = None,
    label_selector: str | None = None,
    resource_version: str | None = None,
    timeout_seconds: int = 30,
) -> Iterator[tuple[str, JSON]]:
    """Events until the server ends the watch after `timeout_seconds` (or the caller stops);
    from `resource_version` on, else from the current state (ADDED for each object first)."""
    request = Request(
        "GET",
        resource.path(namespace),
        query(
            watch=True,
            fieldSelector=field_selector,
            labelSelector=label_selector,
            resourceVersion=resource_version,
            timeoutSeconds=timeout_seconds,
        ),
        read="stream",
        timeout=timeout_seconds + 5,
    )
    for event in kube.lines(request):
        kind = str(event.get("type"))
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise from_status(int(obj.get("code") or 500), obj.get("reason"), json.dumps(obj))
        yield kind, obj
