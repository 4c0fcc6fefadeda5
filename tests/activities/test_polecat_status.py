"""The status patch update_polecat_status sends: what a new run resets, what it never sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gastown.activities.polecats import status_body
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.workflows.messages import StatusUpdate

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
EARLIER = "2026-11-30T11:00:00Z"


def polecat(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {
            "name": "nux",
            "namespace": "ns",
            "uid": "u1",
            "resourceVersion": "7",
            "generation": 3,
        },
        "status": status,
    }


def update(**fields: Any) -> StatusUpdate:
    base: dict[str, Any] = {
        "namespace": "ns",
        "name": "nux",
        "phase": PolecatPhase.WORKING,
        "reason": "PodRunning",
        "message": "running",
    }
    return StatusUpdate(**{**base, **fields})


def test_guarded_by_the_resource_version_and_never_sends_the_pod_mirror() -> None:
    old = polecat(runID="r1", pod={"name": "polecat-nux-1", "phase": "Running"})
    patch = status_body(old, update(run_id="r1", pod_name="polecat-nux-1", attempt=1), NOW)
    assert patch["metadata"] == {"resourceVersion": "7"}
    status = patch["status"]
    assert "pod" not in status
    assert status["podName"] == "polecat-nux-1"
    assert (status["phase"], status["lastActivity"], status["observedGeneration"]) == (
        "Working",
        "2026-11-30T12:00:00Z",
        3,
    )


def test_a_new_run_clears_the_last_runs_results() -> None:
    old = polecat(
        runID="r1",
        outcome="completed",
        commit="abc",
        pullRequestURL="https://pr/1",
        finishedAt=EARLIER,
        podName="polecat-nux-1",
        startedAt=EARLIER,
    )
    status = status_body(old, update(run_id="r2", outcome=Outcome.COMPLETED, commit="def"), NOW)[
        "status"
    ]
    for key in ("outcome", "commit", "pullRequestURL", "finishedAt", "podName"):
        assert key in status and status[key] is None, key
    assert (status["runID"], status["startedAt"]) == ("r2", "2026-11-30T12:00:00Z")


def test_a_new_run_that_finishes_at_once_keeps_its_finish_time() -> None:
    status = status_body(polecat(runID="r1"), update(run_id="r2", finished=True), NOW)["status"]
    assert status["finishedAt"] == "2026-11-30T12:00:00Z"


def test_the_same_run_keeps_startedAt_and_sends_only_what_it_knows() -> None:
    old = polecat(runID="r1", startedAt=EARLIER, commit="abc")
    status = status_body(old, update(run_id="r1", started=True, outcome=Outcome.COMPLETED), NOW)[
        "status"
    ]
    assert "startedAt" not in status  # merge patch: the server keeps the first start
    assert "commit" not in status and "finishedAt" not in status
    assert status["outcome"] == "completed"


def test_ready_condition_upserted_with_transition_time_kept_for_the_same_status() -> None:
    ready = {
        "type": "Ready",
        "status": "Unknown",
        "reason": "Dispatched",
        "message": "m",
        "lastTransitionTime": EARLIER,
    }
    other = {
        "type": "SpecAccepted",
        "status": "True",
        "reason": "Accepted",
        "message": "",
        "lastTransitionTime": EARLIER,
    }
    old = polecat(runID="r1", conditions=[ready, other])
    conds = status_body(old, update(run_id="r1"), NOW)["status"]["conditions"]
    assert [c["type"] for c in conds] == ["Ready", "SpecAccepted"]
    assert (conds[0]["reason"], conds[0]["lastTransitionTime"]) == ("PodRunning", EARLIER)
    assert conds[0]["observedGeneration"] == 3 and conds[1] == other
    done = status_body(old, update(run_id="r1", phase=PolecatPhase.DONE, reason="Completed"), NOW)
    assert done["status"]["conditions"][0]["status"] == "True"
    assert done["status"]["conditions"][0]["lastTransitionTime"] != EARLIER


def test_the_agents_cost_is_written_and_a_new_run_clears_the_last_ones() -> None:
    done = status_body(polecat(runID="r1"), update(run_id="r1", agent_cost_usd=0.42), NOW)
    assert done["status"]["agentCostUSD"] == 0.42
    fresh = status_body(polecat(runID="r1", agentCostUSD=0.42), update(run_id="r2"), NOW)
    assert "agentCostUSD" in fresh["status"] and fresh["status"]["agentCostUSD"] is None
