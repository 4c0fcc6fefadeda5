"""The watcher's fleet gauges move with the objects it sees, through the SDK's real meter
(a Runtime with a MetricBuffer hands each recorded value back to Python)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig

from gastown.operator.fleet import Fleet
from gastown.workflows import metrics as m


class Gauges:
    """The last value of each (series, labels), from the buffer's updates."""

    def __init__(self) -> None:
        self.buffer = MetricBuffer(10_000)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self.buffer))
        self.values: dict[tuple[str, frozenset[tuple[str, Any]]], float] = {}

    def __call__(self, name: str, **labels: str) -> float | None:
        for update in self.buffer.retrieve_updates():
            key = (update.metric.name, frozenset(update.attributes.items()))
            self.values[key] = update.value
        wanted = frozenset(labels.items())
        found = [v for (n, ls), v in self.values.items() if n == name and wanted <= ls]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else None


@pytest.fixture
def gauges() -> Gauges:
    return Gauges()


def polecat(name: str, phase: str | None, reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if reason:
        status["conditions"] = [{"type": "Ready", "status": "False", "reason": reason}]
    return {"metadata": {"namespace": "ns", "name": name}, "spec": {"rig": "r"}, "status": status}


def test_a_polecat_moves_between_phases_and_parked_reasons(gauges: Gauges) -> None:
    fleet = Fleet(gauges.runtime.metric_meter)
    fleet.on_polecat("ADDED", polecat("a", None))
    fleet.on_polecat("ADDED", polecat("b", "Queued", "RigFull"))
    assert gauges(m.POLECATS, rig="r", phase="Pending") == 1
    assert gauges(m.POLECATS_PARKED, rig="r", phase="Queued", reason="RigFull") == 1
    # The same event again (a re-list) changes nothing.
    fleet.on_polecat(None, polecat("b", "Queued", "RigFull"))
    assert gauges(m.POLECATS, rig="r", phase="Queued") == 1
    fleet.on_polecat("MODIFIED", polecat("a", "WaitingForCredentials", "CredentialsExpired"))
    fleet.on_polecat("MODIFIED", polecat("b", "Working", "PodRunning"))
    assert gauges(m.POLECATS, rig="r", phase="Pending") == 0
    assert gauges(m.POLECATS, rig="r", phase="Queued") == 0
    assert gauges(m.POLECATS, rig="r", phase="Working") == 1
    assert gauges(m.POLECATS_PARKED, rig="r", phase="Queued", reason="RigFull") == 0
    assert gauges(m.POLECATS_PARKED, rig="r", reason="CredentialsExpired") == 1
    assert gauges(m.POLECATS_PARKED, reason="PodRunning") is None  # Working is not parked
    fleet.on_polecat("DELETED", polecat("a", "WaitingForCredentials", "CredentialsExpired"))
    assert gauges(m.POLECATS_PARKED, rig="r", reason="CredentialsExpired") == 0
    assert gauges(m.POLECATS, rig="r", phase="WaitingForCredentials") == 0


def convoy(phase: str | None, **counts: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "c"},
        "spec": {"rigRef": "r"},
        "status": {"phase": phase, "counts": counts},
    }


def test_a_running_convoys_beads_count_until_it_ends(gauges: Gauges) -> None:
    fleet = Fleet(gauges.runtime.metric_meter)
    fleet.on_convoy("ADDED", convoy(None, total=3, pending=3))
    fleet.on_convoy("MODIFIED", convoy("InProgress", total=3, done=1, running=2))
    assert gauges(m.CONVOYS_RUNNING, rig="r") == 1
    assert (gauges(m.CONVOY_BEADS, rig="r", state="done"),
            gauges(m.CONVOY_BEADS, rig="r", state="total")) == (1, 3)  # fmt: skip
    assert gauges(m.CONVOY_BEADS, rig="r", state="pending") == 0
    fleet.on_convoy("MODIFIED", convoy("Complete", total=3, done=3))
    assert gauges(m.CONVOYS_RUNNING, rig="r") == 0
    assert gauges(m.CONVOY_BEADS, rig="r", state="total") == 0


def test_credentials_expiry_and_a_deleted_secret(gauges: Gauges) -> None:
    fleet = Fleet(gauges.runtime.metric_meter)
    name = "creds"
    meta = {"namespace": "ns", "name": name}
    notes = {"gastown.gastown.io/expires-at": "2026-12-01T10:00:00Z"}
    fleet.on_secret(None, {"metadata": {**meta, "annotations": notes}})
    assert gauges(m.CREDENTIALS_EXPIRY, secret=name) == 1796119200
    fleet.on_secret("DELETED", {"metadata": meta})
    value = gauges(m.CREDENTIALS_EXPIRY, secret=name)
    assert value is not None and math.isnan(value)
