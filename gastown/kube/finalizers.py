"""Adding and removing one finalizer without ever dropping another controller's.

Add: a merge patch of the whole list guarded by the resourceVersion the list was read at (a
Conflict means the object moved: the caller looks again). Remove: a JSON patch that first
`test`s our entry is still at the index we saw, then removes it; if the list moved, re-read
and report whether ours is still there.
"""

from __future__ import annotations

from typing import Any

from gastown.kube.calls import Op
from gastown.kube.errors import Conflict, Invalid, NotFound
from gastown.kube.patching import json_patch, merge
from gastown.kube.reading import get_or_none
from gastown.kube.resources import Resource


def has(obj: dict[str, Any], finalizer: str) -> bool:
    return finalizer in (obj["metadata"].get("finalizers") or [])


def add(resource: Resource, obj: dict[str, Any], finalizer: str) -> Op[bool]:
    """Add `finalizer` to the object as read; False if already there. Conflict or NotFound
    reach the caller: a newer version (or none) is what to act on."""
    meta = obj["metadata"]
    if has(obj, finalizer):
        return False
    finalizers = [*(meta.get("finalizers") or []), finalizer]
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
    yield from merge(resource, meta["name"], patch, meta.get("namespace"))
    return True


def remove(resource: Resource, obj: dict[str, Any], finalizer: str) -> Op[bool]:
    """Remove our entry; True once it is gone (or the object is), False when the list moved
    under us and our entry is still there (the caller tries again)."""
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if finalizer not in finalizers:
        return True
    index = finalizers.index(finalizer)
    ops = [
        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
    ]
    namespace = meta.get("namespace")
    try:
        yield from json_patch(resource, meta["name"], ops, namespace)
    except NotFound:
        return True
    except (Invalid, Conflict):
        fresh = yield from get_or_none(resource, meta["name"], namespace)
        return fresh is None or not has(fresh, finalizer)
    return True
