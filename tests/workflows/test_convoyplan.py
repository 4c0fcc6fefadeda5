"""convoyplan's rules as plain functions: what a report does to a bead, the counts, the final
phase and the Temporal UI's details."""

from __future__ import annotations

import pytest

from gastown.api.convoy import BeadPhase, ConvoyPhase, FailurePolicy
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.workflows import convoyplan as plan
from gastown.workflows.messages import ConvoyBead, PolecatReport

WID = "polecat/ns/c-dm-1"


def running(attempts: int = 1, cost: float | None = None) -> ConvoyBead:
    return ConvoyBead(bead_id="dm-1", phase=BeadPhase.DISPATCHED, polecat="c-dm-1",
                      workflow_id=WID, polecat_phase=PolecatPhase.PENDING, attempts=attempts,
                      cost_usd=cost)  # fmt: skip


def report(phase: PolecatPhase, cost: float | None = None, wid: str = WID) -> PolecatReport:
    return PolecatReport(workflow_id=wid, polecat="c-dm-1", bead_id="dm-1", phase=phase,
                         reason="R", agent_cost_usd=cost)  # fmt: skip


def test_a_report_counts_only_for_the_beads_current_running_polecat() -> None:
    assert plan.applies(running(), report(PolecatPhase.DONE))
    assert not plan.applies(running(), report(PolecatPhase.DONE, wid="polecat/ns/c-dm-1-r1"))
    done = running().model_copy(update={"phase": BeadPhase.DONE})
    assert not plan.applies(done, report(PolecatPhase.DONE))  # a repeat changes nothing


def test_progress_reports_move_the_polecat_phase_only() -> None:
    bead = plan.apply_report(running(), report(PolecatPhase.QUEUED), FailurePolicy.CONTINUE, 0,
                             stopping=False)  # fmt: skip
    assert (bead.phase, bead.polecat_phase) == (BeadPhase.DISPATCHED, PolecatPhase.QUEUED)


@pytest.mark.parametrize(
    ("policy", "attempts", "phase", "stopping", "expected"),
    [
        (FailurePolicy.CONTINUE, 1, PolecatPhase.FAILED, False, BeadPhase.FAILED),
        (FailurePolicy.RETRY, 1, PolecatPhase.FAILED, False, BeadPhase.PENDING),
        (FailurePolicy.RETRY, 2, PolecatPhase.STUCK, False, BeadPhase.PENDING),
        (FailurePolicy.RETRY, 3, PolecatPhase.FAILED, False, BeadPhase.FAILED),  # 2 retries used
        (FailurePolicy.RETRY, 1, PolecatPhase.TERMINATED, False, BeadPhase.FAILED),  # nuked
        (FailurePolicy.RETRY, 1, PolecatPhase.FAILED, True, BeadPhase.FAILED),  # stopping
        (FailurePolicy.RETRY, 1, PolecatPhase.DONE, False, BeadPhase.DONE),
    ],
)
def test_a_final_report_and_the_retry_rule(
    policy: FailurePolicy, attempts: int, phase: PolecatPhase, stopping: bool,
    expected: BeadPhase,
) -> None:  # fmt: skip
    bead = plan.apply_report(running(attempts, cost=1.0), report(phase, cost=0.5), policy, 2,
                             stopping=stopping)  # fmt: skip
    assert bead.phase == expected
    assert (bead.polecat_phase, bead.reason, bead.cost_usd) == (phase, "R", 1.5)


def test_stop_skips_the_undispatched_and_fails_a_bead_waiting_for_its_retry() -> None:
    beads = [
        ConvoyBead(bead_id="dm-1", phase=BeadPhase.PENDING),
        ConvoyBead(bead_id="dm-2", phase=BeadPhase.PENDING, attempts=1, reason="AgentFailed"),
        running(),
    ]
    stopped = plan.stop(beads)
    assert [b.phase for b in stopped] == [BeadPhase.SKIPPED, BeadPhase.FAILED,
                                          BeadPhase.DISPATCHED]  # fmt: skip
    assert stopped[1].reason == "AgentFailed"


def test_counts_percent_and_final_phase() -> None:
    def bead(i: int, phase: BeadPhase, pp: PolecatPhase | None = None) -> ConvoyBead:
        return ConvoyBead(bead_id=f"dm-{i}", phase=phase, polecat_phase=pp)

    beads = [bead(1, BeadPhase.DONE), bead(2, BeadPhase.FAILED), bead(3, BeadPhase.SKIPPED),
             bead(4, BeadPhase.DISPATCHED, PolecatPhase.QUEUED),
             bead(5, BeadPhase.DISPATCHED, PolecatPhase.WORKING),
             bead(6, BeadPhase.PENDING)]  # fmt: skip
    n = plan.counts(beads)
    assert (n.total, n.done, n.failed, n.skipped, n.running, n.queued, n.pending) == (
        6, 1, 1, 1, 2, 1, 1)  # fmt: skip
    assert plan.percent(n) == 50
    assert plan.final_phase(beads, cancelled=False) == ConvoyPhase.PARTIALLY_FAILED
    assert plan.final_phase(beads, cancelled=True) == ConvoyPhase.CANCELLED
    assert plan.final_phase(beads[:1], cancelled=False) == ConvoyPhase.COMPLETE
    assert plan.final_phase(beads[1:3], cancelled=False) == ConvoyPhase.FAILED


def test_details_list_at_most_fifty_beads() -> None:
    beads = [ConvoyBead(bead_id=f"dm-{i}", phase=BeadPhase.DONE, polecat=f"c-dm-{i}",
                        outcome=Outcome.COMPLETED, pull_request_url=f"https://pr/{i}")
             for i in range(1, 61)]  # fmt: skip
    text = plan.details("Wave 1", ConvoyPhase.COMPLETE, beads, 3.5, None)
    assert text.startswith("**Complete** · 60/60 (100%) · Wave 1")
    assert "cost $3.50" in text
    assert "- ✓ `dm-50` → `c-dm-50` · **Done** · https://pr/50" in text
    assert "`dm-51`" not in text and "…and 10 more" in text
