"""The one core/v1 Event builder: named from its content, so a retried write cannot double it.

The name is `<object>.<digest>` where the digest covers the object's uid and a caller-chosen
key (what makes this occurrence distinct: the run, attempt and phase for a status change, the
refused text for an immutable field). A second create with the same content is a Conflict,
which `record` treats as "already recorded". The uid in the digest keeps a new object of the
same name from colliding with its predecessor's Events.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from gastown.kube import timestamps
from gastown.kube.calls import JSON, Op
from gastown.kube.errors import Conflict
from gastown.kube.resources import EVENTS
from gastown.kube.writing import create

MESSAGE_MAX = 1024


def event_name(obj: dict[str, Any], key: str) -> str:
    meta = obj["metadata"]
    digest = hashlib.sha256(f"{meta['uid']}|{key}".encode()).hexdigest()[:16]
    return f"{meta['name']}.{digest}"


def body(
    obj: dict[str, Any],
    *,
    key: str,
    reason: str,
    message: str,
    component: str,
    kind: Literal["Normal", "Warning"] = "Normal",
) -> JSON:
    """An Event about `obj` (any namespaced object with apiVersion/kind in hand or given)."""
    meta = obj["metadata"]
    now = timestamps.now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(obj, key), "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message[:MESSAGE_MAX],
        "type": kind,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def record(event: JSON) -> Op[bool]:
    """Create the Event; False when an earlier try already recorded it."""
    try:
        yield from create(EVENTS, event)
    except Conflict:
        return False
    return True
