"""The one metav1.Condition upsert.

lastTransitionTime moves only when a condition's status changes (a new reason or message for
the same status keeps it), as kstatus, `kubectl wait --for=condition` and GitOps tools expect.
Conditions go through the `Condition` model, so a malformed type or reason fails here rather
than at the API server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gastown.api.common import Condition, ConditionStatus
from gastown.kube import timestamps

MESSAGE_MAX = 32768


def _find(conditions: Sequence[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def condition(
    old: Sequence[dict[str, Any]],
    kind: str,
    status: ConditionStatus | str,
    reason: str,
    message: str,
    generation: int | None = None,
) -> dict[str, Any]:
    """The condition `kind` as it should be written, given the conditions there now."""
    prev = _find(old, kind)
    status = ConditionStatus(status)
    keep = (
        prev is not None and prev.get("status") == status.value and prev.get("lastTransitionTime")
    )
    cond = Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message[:MESSAGE_MAX],
        observed_generation=generation,
        last_transition_time=timestamps.parse(prev["lastTransitionTime"])
        if keep and prev
        else timestamps.parse(timestamps.now()),
    )
    return cond.to_k8s()


def upsert(old: Sequence[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """`old` with `new` (built by `condition` from `old`) in place of the condition of its
    type; the others kept in their order, a new type appended."""
    kind = new["type"]
    out = [dict(c) if c.get("type") != kind else new for c in old]
    if _find(old, kind) is None:
        out.append(new)
    return out


def same(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> bool:
    """Equal but for lastTransitionTime: nothing worth a write."""

    def strip(conds: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conds]

    return strip(a) == strip(b)
