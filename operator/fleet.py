"""The fleet's gauges, computed from what the watcher sees: polecats by rig and phase, the
parked ones and why, running convoys and their beads, credentials' expiry.

Gauges from state, not counters from events: a re-list after a 410, a watcher restart or a
second delivery of the same event sets the same value again instead of counting twice. Each
object's last contribution is kept, so an event moves its count from the old label set to the
new one in O(1); a label set whose count falls to zero is set to 0, not left at its last value
(the SDK's meter cannot remove a series). A deleted credentials Secret's expiry becomes NaN,
which no comparison matches, so no alert fires for a Secret that is gone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from temporalio.common import MetricGauge, MetricGaugeFloat, MetricMeter

from gastown.api.auth import ANNOTATION_EXPIRES_AT, parse_time
from gastown.operator.rigstatus import convoy_active
from gastown.workflows import metrics as m

PARKED = ("Queued", "WaitingForCredentials")
BEAD_STATES = ("total", "done", "running", "queued", "pending", "failed", "skipped", "waiting")


def _ready_reason(status: dict[str, Any]) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("reason"):
            return str(cond["reason"])
    return ""


def polecat_labels(body: dict[str, Any]) -> tuple[str, str, str] | None:
    """(rig, phase, why parked: the Ready condition's reason, or "" when not parked)."""
    rig = (body.get("spec") or {}).get("rig")
    if not rig:
        return None
    status = body.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    return str(rig), phase, (_ready_reason(status) or phase) if phase in PARKED else ""


def expiry(body: dict[str, Any]) -> float | None:
    """The Secret's expires-at annotation (written by `auth sync` and the keeper) as a Unix
    timestamp; None for a long-lived token or an API key."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_EXPIRES_AT)
    at = parse_time(str(value)) if value else None
    return at.timestamp() if at is not None else None


@dataclass
class _Counts:
    """Counts by label set, pushed to one gauge as they change."""

    gauge: MetricGauge
    names: tuple[str, ...]
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)

    def move(self, old: tuple[str, ...] | None, new: tuple[str, ...] | None, by: int = 1) -> None:
        if old == new:
            return
        for labels, delta in ((old, -by), (new, by)):
            if labels is not None:
                self.counts[labels] += delta
                self.gauge.set(self.counts[labels], dict(zip(self.names, labels, strict=True)))


@dataclass
class Fleet:
    meter: MetricMeter
    _polecats: dict[Hashable, tuple[str, str, str]] = field(default_factory=dict)
    _convoys: dict[Hashable, tuple[str, dict[str, int]]] = field(default_factory=dict)
    _expiry: MetricGaugeFloat = field(init=False)

    def __post_init__(self) -> None:
        meter = self.meter
        self._phases = _Counts(
            meter.create_gauge(m.POLECATS, "Polecats by rig and phase"), ("rig", "phase")
        )
        self._parked = _Counts(
            meter.create_gauge(
                m.POLECATS_PARKED,
                "Polecats parked (Queued for a slot, WaitingForCredentials) by rig, phase and "
                "reason",
            ),
            ("rig", "phase", "reason"),
        )
        self._running = _Counts(
            meter.create_gauge(m.CONVOYS_RUNNING, "Convoys not in a final phase, by rig"), ("rig",)
        )
        self._beads = _Counts(
            meter.create_gauge(
                m.CONVOY_BEADS, "Beads of the running convoys by rig and state (total, done, …)"
            ),
            ("rig", "state"),
        )
        self._expiry = meter.create_gauge_float(
            m.CREDENTIALS_EXPIRY,
            "When the session in a credentials Secret expires (Unix seconds; NaN: deleted)",
            "s",
        )

    def on_polecat(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"))
        old = self._polecats.pop(key, None)
        new = None if event_type == "DELETED" else polecat_labels(body)
        if new is not None:
            self._polecats[key] = new
        self._phases.move(old[:2] if old else None, new[:2] if new else None)
        self._parked.move(old if old and old[2] else None, new if new and new[2] else None)

    def on_convoy(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"))
        old = self._convoys.pop(key, None)
        rig = (body.get("spec") or {}).get("rigRef")
        status = body.get("status") or {}
        new = None
        if event_type != "DELETED" and rig and convoy_active(status.get("phase")):
            counts = status.get("counts") or {}
            new = (str(rig), {s: int(counts.get(s) or 0) for s in BEAD_STATES})
            self._convoys[key] = new
        self._running.move((old[0],) if old else None, (new[0],) if new else None)
        for state in BEAD_STATES:
            before = (old[0], state) if old else None
            after = (new[0], state) if new else None
            if before is not None:
                self._beads.move(before, None, old[1][state] if old else 0)
            if after is not None:
                self._beads.move(None, after, new[1][state] if new else 0)

    def on_secret(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        labels = {"namespace": str(meta.get("namespace")), "secret": str(meta.get("name"))}
        if event_type == "DELETED":
            self._expiry.set(float("nan"), labels)
            return
        at = expiry(body)
        self._expiry.set(float("nan") if at is None else at, labels)
