"""events.k8s.io/v1 as a view over the core/v1 events store, as the apiserver serves it.

Both APIs read and write the same objects; only field names differ (involvedObject/regarding,
message/note, source/deprecatedSource, ...). Objects are stored in the core/v1 shape.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
GROUP = "events.k8s.io"

# core/v1 field -> events.k8s.io/v1 field
_RENAMES = {
    "involvedObject": "regarding",
    "message": "note",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "source": "deprecatedSource",
    "reportingComponent": "reportingController",
}
_BACK = {v: k for k, v in _RENAMES.items()}


def to_v1(obj: JSON) -> JSON:
    out = {_RENAMES.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = f"{GROUP}/v1"
    return out


def from_v1(obj: JSON) -> JSON:
    out = {_BACK.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = "v1"
    return out


def field_selector(text: str | None) -> str | None:
    """Selectors name v1 fields; the store holds core/v1 ones."""
    if not text:
        return text
    for core, v1 in _RENAMES.items():
        text = text.replace(f"{v1}.", f"{core}.").replace(f"{v1}=", f"{core}=")
    return text
