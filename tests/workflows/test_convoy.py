"""ConvoyWorkflow in seconds: the real workflow on the time-skipping test server, its
Kubernetes activities played by the doubles and its polecats by the stand-in of
fakepolecat.py (which reports to its convoy as the real PolecatWorkflow does), so the
convoy's own logic runs for real: the window, the reports, the failure policies, the cost
cap, the updates, the audit and continue-as-new. One test runs the real PolecatWorkflow as
the children, so the report path of the real polecat is covered too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import pytest
from temporalio.api.enums.v1 import EventType, ParentClosePolicy
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowUpdateFailedError

from gastown.api.convoy import BeadPhase, ConvoyPhase, FailurePolicy
from gastown.api.identity import (
    convoy_polecat_name,
    convoy_workflow_id,
    pod_name,
    polecat_workflow_id,
)
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.workflows import contract as c
from gastown.workflows import convoyplan as plan
from gastown.workflows.convoy import ConvoyWorkflow
from gastown.workflows.messages import (
    AddBeads,
    AttemptResult,
    CancelConvoy,
    ConvoyBead,
    ConvoyProgress,
    ConvoyStatusUpdate,
    DispatchRequest,
    NukePolecats,
    PodObservation,
    Resolved,
)
from gastown.workflows.polecat import PolecatWorkflow
from tests.workflows import doubles as d
from tests.workflows.doubles import DEADLINE, Hold, Run, Script
from tests.workflows.fakepolecat import FAKE_PARK, FAKE_RUN
from tests.workflows.harness import ConvoyHandle, Harness, HarnessFactory

pytestmark = pytest.mark.timeout(90)

ConvoyHarness = Callable[[Script], AbstractAsyncContextManager[Harness]]
DONE, FAILED = PolecatPhase.DONE, PolecatPhase.FAILED


def convoy(name: str, beads: Sequence[str], runs: dict[str, Sequence[Run]] | None = None,
           **spec: object) -> Script:  # fmt: skip
    return Script(d.resolved("unused"), convoy=d.resolved_convoy(name, beads, **spec),
                  runs=runs or {})  # fmt: skip


async def result_of(handle: ConvoyHandle) -> ConvoyProgress:
    """The convoy's result; the test server skips durable timers while this waits."""
    return await asyncio.wait_for(handle.result(), DEADLINE * 3)


def by_bead(progress: ConvoyProgress) -> dict[str, ConvoyBead]:
    return {b.bead_id: b for b in progress.beads}


def phases(progress: ConvoyProgress) -> dict[str, BeadPhase]:
    return {b.bead_id: b.phase for b in progress.beads}


def dispatched(h: Harness) -> list[str]:
    """The polecats dispatched, in order."""
    return [
        convoy_polecat_name(r.convoy, r.bead_id, r.retry)
        for r in h.doubles.args(c.DISPATCH_POLECAT, d.CONVOY)
    ]


def writes(h: Harness) -> list[ConvoyStatusUpdate]:
    return list(h.doubles.args(c.UPDATE_CONVOY_STATUS, d.CONVOY))


def started(h: Harness) -> int:
    return len([x for x in h.doubles.calls if x.name == FAKE_RUN])


async def history(handle: ConvoyHandle, run_id: str | None = None) -> list[HistoryEvent]:
    one = handle._client.get_workflow_handle(handle.id, run_id=run_id) if run_id else handle
    return [e async for e in one.fetch_history_events()]


# ---------------------------------------------------------------- the window
async def test_the_window_never_exceeds_parallelism_and_is_kept_full(
    convoy_harness: ConvoyHarness,
) -> None:
    beads = [f"dm-{i}" for i in range(1, 8)]
    holds = {b: Hold() for b in beads}
    script = convoy("win", beads, {b: [Run(hold=holds[b], cost=0.25)] for b in beads},
                    parallelism=3)  # fmt: skip
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("win"))
        for released in range(len(beads)):
            expect = min(3, len(beads) - released)
            # The window refills after each finish: `expect` polecats run, never more.
            await h.doubles.until(
                lambda r=released, e=expect: started(h) == r + e and h.doubles.running == e
            )
            if released == 0:
                progress = await handle.query(ConvoyWorkflow.progress)
                assert (progress.counts.running, progress.counts.pending) == (3, 4)
            runs = [h.doubles.dispatched[x.arg.name][0] for x in h.doubles.calls
                    if x.name == FAKE_RUN]  # fmt: skip
            holds[next(b for b in runs if not holds[b].released)].release()
        result = await result_of(handle)

        assert h.doubles.max_running == 3
        assert result.phase == ConvoyPhase.COMPLETE
        assert result.counts.done == 7 and result.cost_usd == pytest.approx(1.75)
        # Each once; a window's worth at a time in spec order (within one, concurrently).
        order = dispatched(h)
        assert sorted(order) == sorted(f"win-{b}" for b in beads)
        assert set(order[:3]) == {"win-dm-1", "win-dm-2", "win-dm-3"}


# ---------------------------------------------------------------- outcomes
async def test_all_done_completes_with_the_cost_attributes_details_and_a_notice(
    convoy_harness: ConvoyHarness,
) -> None:
    beads = ["dm-1", "dm-2", "dm-3", "dm-4"]
    script = convoy("all", beads, {b: [Run(cost=0.5)] for b in beads}, notify=True)
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("all"))
        result = await result_of(handle)

        assert result.phase == ConvoyPhase.COMPLETE
        assert (result.counts.total, result.counts.done, result.counts.failed) == (4, 4, 0)
        assert result.cost_usd == pytest.approx(2.0)
        assert result.reason == "AllBeadsDone"
        assert all(b.phase == BeadPhase.DONE and b.attempts == 1 for b in result.beads)
        assert by_bead(result)["dm-2"].branch == "feature/dm-2"
        # The CR's status: the last write is the final one, with a Normal Event.
        final = writes(h)[-1]
        assert (final.finished, final.event_type, final.progress.phase) == (
            True, "Normal", ConvoyPhase.COMPLETE)  # fmt: skip
        assert final.workflow_id == convoy_workflow_id(d.NAMESPACE, "all")
        assert not any(w.finished for w in writes(h)[:-1])
        [notice] = h.doubles.args(c.NOTIFY_CONVOY, d.CONVOY)
        assert (notice.name, notice.progress.phase) == ("all", ConvoyPhase.COMPLETE)
        # The Temporal UI: search attributes and the details.
        attrs = (await handle.describe()).typed_search_attributes
        assert (attrs.get(c.SA_PHASE), attrs.get(c.SA_PROGRESS)) == ("Complete", 100)
        assert (attrs.get(c.SA_CONVOY), attrs.get(c.SA_RIG)) == ("all", d.RIG)
        meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "**Complete** · 4/4 (100%)" in meta.current_details
        assert "- ✓ `dm-3` → `all-dm-3` · **Done** · `feature/dm-3`" in meta.current_details
        # Each child: abandoned at the parent's close, found by the convoy attribute.
        starts = [
            e.start_child_workflow_execution_initiated_event_attributes
            for e in await history(handle)
            if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
        ]
        assert sorted(s.workflow_id for s in starts) == [
            polecat_workflow_id(d.NAMESPACE, f"all-{b}") for b in beads
        ]  # started together, in whatever order their Polecats were created
        assert {s.parent_close_policy for s in starts} == {
            ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON
        }
        child = h.env.client.get_workflow_handle(polecat_workflow_id(d.NAMESPACE, "all-dm-1"))
        child_attrs = (await child.describe()).typed_search_attributes
        assert (child_attrs.get(c.SA_CONVOY), child_attrs.get(c.SA_BEAD)) == ("all", "dm-1")
        await h.record(handle, "convoy_complete")


@pytest.mark.parametrize(
    ("outcomes", "phase"),
    [
        ({"dm-1": DONE, "dm-2": FAILED, "dm-3": DONE}, ConvoyPhase.PARTIALLY_FAILED),
        ({"dm-1": FAILED, "dm-2": FAILED}, ConvoyPhase.FAILED),
    ],
    ids=["mixed", "none-done"],
)
async def test_failed_beads_make_the_convoy_partially_failed_or_failed(
    convoy_harness: ConvoyHarness, outcomes: dict[str, PolecatPhase], phase: ConvoyPhase
) -> None:
    script = convoy("mix", list(outcomes), {b: [Run(phase=p)] for b, p in outcomes.items()})
    async with convoy_harness(script) as h:
        result = await result_of(await h.start_convoy(d.convoy_input("mix")))

        assert result.phase == phase
        expected = {b: BeadPhase.DONE if p == DONE else BeadPhase.FAILED
                    for b, p in outcomes.items()}  # fmt: skip
        assert phases(result) == expected
        failed = [b for b in result.beads if b.phase == BeadPhase.FAILED]
        assert {(b.reason, b.polecat_phase) for b in failed} == {("AgentFailed", FAILED)}
        assert writes(h)[-1].event_type == "Warning"


async def test_stop_policy_skips_the_rest_after_the_first_failure(
    convoy_harness: ConvoyHarness,
) -> None:
    beads = ["dm-1", "dm-2", "dm-3", "dm-4"]
    script = convoy("stop", beads, {"dm-2": [Run(phase=FAILED)]}, parallelism=1,
                    failure_policy=FailurePolicy.STOP)  # fmt: skip
    async with convoy_harness(script) as h:
        result = await result_of(await h.start_convoy(d.convoy_input("stop")))

        assert result.phase == ConvoyPhase.PARTIALLY_FAILED
        assert result.reason == plan.STOPPED_ON_FAILURE
        assert phases(result) == {
            "dm-1": BeadPhase.DONE, "dm-2": BeadPhase.FAILED,
            "dm-3": BeadPhase.SKIPPED, "dm-4": BeadPhase.SKIPPED,
        }  # fmt: skip
        assert dispatched(h) == ["stop-dm-1", "stop-dm-2"]


@pytest.mark.parametrize(
    ("runs", "bead_phase", "convoy_phase"),
    [
        ([FAILED, FAILED, DONE], BeadPhase.DONE, ConvoyPhase.COMPLETE),
        ([FAILED, FAILED, FAILED], BeadPhase.FAILED, ConvoyPhase.PARTIALLY_FAILED),
    ],
    ids=["third-time-lucky", "retries-exhausted"],
)
async def test_retry_policy_gives_a_failed_bead_new_polecats_up_to_max_retries(
    convoy_harness: ConvoyHarness,
    runs: list[PolecatPhase],
    bead_phase: BeadPhase,
    convoy_phase: ConvoyPhase,
) -> None:
    script = convoy("re", ["dm-1", "dm-2"], {"dm-2": [Run(phase=p, cost=1.0) for p in runs]},
                    failure_policy=FailurePolicy.RETRY, max_retries=2)  # fmt: skip
    async with convoy_harness(script) as h:
        result = await result_of(await h.start_convoy(d.convoy_input("re")))

        bead = by_bead(result)["dm-2"]
        assert (bead.phase, bead.attempts, bead.polecat) == (bead_phase, 3, "re-dm-2-r2")
        assert bead.cost_usd == pytest.approx(3.0)  # summed over its polecats
        assert result.phase == convoy_phase
        assert sorted(dispatched(h)) == ["re-dm-1", "re-dm-2", "re-dm-2-r1", "re-dm-2-r2"]
        retries = [r.retry for r in h.doubles.args(c.DISPATCH_POLECAT, d.CONVOY)
                   if r.bead_id == "dm-2"]  # fmt: skip
        assert retries == [0, 1, 2]


async def test_the_cost_cap_stops_dispatch_and_skips_the_rest(
    convoy_harness: ConvoyHarness,
) -> None:
    beads = ["dm-1", "dm-2", "dm-3", "dm-4"]
    script = convoy("cap", beads, {b: [Run(cost=1.25)] for b in beads}, parallelism=1,
                    max_cost_usd=2.0)  # fmt: skip
    async with convoy_harness(script) as h:
        result = await result_of(await h.start_convoy(d.convoy_input("cap")))

        assert result.reason == plan.MAX_COST_REACHED
        assert "reached spec.maxCostUSD $2.00" in (result.message or "")
        assert phases(result) == {
            "dm-1": BeadPhase.DONE, "dm-2": BeadPhase.DONE,
            "dm-3": BeadPhase.SKIPPED, "dm-4": BeadPhase.SKIPPED,
        }  # fmt: skip
        assert result.cost_usd == pytest.approx(2.5)
        assert result.phase == ConvoyPhase.PARTIALLY_FAILED
        assert dispatched(h) == ["cap-dm-1", "cap-dm-2"]


# ---------------------------------------------------------------- updates
# ---------------------------------------------------------------- credentials
async def test_a_parked_polecat_pauses_the_convoy_and_nothing_counts_as_failed(
    convoy_harness: ConvoyHarness,
) -> None:
    beads = ["dm-1", "dm-2", "dm-3", "dm-4"]
    holds = {b: Hold() for b in beads}
    script = convoy("cred", beads, {b: [Run(hold=holds[b])] for b in beads}, parallelism=2)
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("cred"))
        await h.doubles.until(lambda: h.doubles.running == 2)
        first = h.env.client.get_workflow_handle(polecat_workflow_id(d.NAMESPACE, "cred-dm-1"))
        await first.signal(FAKE_PARK, True)

        async def counted(waiting: int, done: int) -> ConvoyProgress:
            while True:
                progress = await handle.query(ConvoyWorkflow.progress)
                if (progress.counts.waiting, progress.counts.done) == (waiting, done):
                    return progress
                await asyncio.sleep(0.02)

        paused = await asyncio.wait_for(counted(1, 0), DEADLINE)
        assert paused.reason == plan.WAITING_FOR_CREDENTIALS
        assert paused.message is not None and "kubectl gt auth sync --force" in paused.message
        assert paused.phase == ConvoyPhase.IN_PROGRESS
        # The other polecat finishes while the convoy is paused: its slot is not refilled.
        holds["dm-2"].release()
        await asyncio.wait_for(counted(1, 1), DEADLINE)
        await h.doubles.until(
            lambda: any(
                w.progress.counts.waiting == 1 and w.progress.counts.done == 1 for w in writes(h)
            )
        )
        assert dispatched(h) == ["cred-dm-1", "cred-dm-2"]
        paused_write = next(w for w in writes(h) if w.progress.counts.waiting)
        assert paused_write.progress.reason == plan.WAITING_FOR_CREDENTIALS
        assert paused_write.event_type == "Warning"

        calls_before_resume = len(h.doubles.calls)
        await first.signal(FAKE_PARK, False)
        await h.doubles.until(lambda: len(dispatched(h)) == 3)
        assert [x.name for x in h.doubles.calls[:calls_before_resume]].count(
            c.DISPATCH_POLECAT
        ) == 2
        for b in beads:
            holds[b].release()
        result = await result_of(handle)

        assert result.phase == ConvoyPhase.COMPLETE
        assert (result.counts.done, result.counts.failed, result.counts.waiting) == (4, 0, 0)
        assert result.reason == "AllBeadsDone"
        resumed = [w for w in writes(h) if w.event_type == "Normal" and not w.finished]
        assert resumed, "the lifted pause made no Event"


async def test_cancel_stops_dispatch_and_lets_running_polecats_finish(
    convoy_harness: ConvoyHarness,
) -> None:
    first = Hold()
    script = convoy("can", ["dm-1", "dm-2", "dm-3"], {"dm-1": [Run(hold=first)]},
                    parallelism=1)  # fmt: skip
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("can"))
        await h.doubles.until(lambda: h.doubles.running == 1)
        progress = await asyncio.wait_for(
            handle.execute_update(ConvoyWorkflow.cancel, CancelConvoy()), DEADLINE
        )
        assert progress.reason == plan.CANCELLED
        assert (progress.counts.running, progress.counts.skipped) == (1, 2)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ConvoyWorkflow.add_beads, AddBeads(beads=["dm-9"]))
        assert "stopping (Cancelled)" in str(refused.value.cause)
        first.release()
        result = await result_of(handle)

        assert result.phase == ConvoyPhase.CANCELLED
        assert phases(result) == {
            "dm-1": BeadPhase.DONE, "dm-2": BeadPhase.SKIPPED, "dm-3": BeadPhase.SKIPPED
        }  # fmt: skip
        assert h.doubles.args(c.NUKE_POLECATS, d.CONVOY) == []
        assert dispatched(h) == ["can-dm-1"]


async def test_cancel_with_nuke_nukes_the_running_polecats(
    convoy_harness: ConvoyHarness,
) -> None:
    beads = ["dm-1", "dm-2", "dm-3"]
    script = convoy("nk", beads, {b: [Run(hold=Hold())] for b in beads}, parallelism=2)
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("nk"))
        await h.doubles.until(lambda: h.doubles.running == 2)
        await asyncio.wait_for(
            handle.execute_update(ConvoyWorkflow.cancel, CancelConvoy(nuke=True, reason="oops")),
            DEADLINE,
        )
        result = await result_of(handle)

        [nuke] = h.doubles.args(c.NUKE_POLECATS, d.CONVOY)
        assert nuke == NukePolecats(
            workflow_ids=[polecat_workflow_id(d.NAMESPACE, f"nk-{b}") for b in beads[:2]],
            reason="oops",
        )
        assert result.phase == ConvoyPhase.CANCELLED
        assert phases(result) == {
            "dm-1": BeadPhase.FAILED, "dm-2": BeadPhase.FAILED, "dm-3": BeadPhase.SKIPPED
        }  # fmt: skip
        assert {by_bead(result)[b].polecat_phase for b in beads[:2]} == {PolecatPhase.TERMINATED}


async def test_add_beads_takes_only_beads_the_cr_lists(convoy_harness: ConvoyHarness) -> None:
    first = Hold()
    script = convoy("add", ["dm-1"], {"dm-1": [Run(hold=first)]})
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("add"))
        await h.doubles.until(lambda: h.doubles.running == 1)
        # `convoy add` wrote dm-2 to the CR; dm-8 never made it there, dm-1 is known.
        assert script.convoy is not None
        script.convoy = script.convoy.model_copy(update={"beads": ["dm-1", "dm-2"]})
        progress = await asyncio.wait_for(
            handle.execute_update(
                ConvoyWorkflow.add_beads, AddBeads(beads=["dm-1", "dm-2", "dm-8"])
            ),
            DEADLINE,
        )
        assert [b.bead_id for b in progress.beads] == ["dm-1", "dm-2"]
        first.release()
        result = await result_of(handle)

        assert (result.phase, result.counts.done, result.counts.total) == (
            ConvoyPhase.COMPLETE, 2, 2)  # fmt: skip
        assert dispatched(h) == ["add-dm-1", "add-dm-2"]


# ---------------------------------------------------------------- durability
async def test_continue_as_new_keeps_progress_and_the_running_polecats(
    convoy_harness: ConvoyHarness,
) -> None:
    beads = [f"dm-{i}" for i in range(1, 8)]
    script = convoy("can-new", beads, {b: [Run(cost=0.5)] for b in beads}, parallelism=2,
                    failure_policy=FailurePolicy.CONTINUE)  # fmt: skip
    script.runs["dm-4"] = [Run(phase=FAILED, cost=0.5)]
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("can-new", dispatches_per_run=2))
        result = await result_of(handle)

        assert result.phase == ConvoyPhase.PARTIALLY_FAILED
        assert (result.counts.done, result.counts.failed) == (6, 1)
        assert result.cost_usd == pytest.approx(3.5)
        assert all(b.attempts == 1 for b in result.beads)
        assert sorted(dispatched(h)) == sorted(f"can-new-{b}" for b in beads)  # each once
        first = await history(handle, handle.first_execution_run_id)
        assert first[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        runs = {x.workflow_id for x in h.doubles.calls if x.name == c.RESOLVE_CONVOY}
        assert runs == {convoy_workflow_id(d.NAMESPACE, "can-new")}
        assert len(h.doubles.args(c.RESOLVE_CONVOY, d.CONVOY)) >= 4  # re-resolved per run
        first_run = h.env.client.get_workflow_handle(
            handle.id, run_id=handle.first_execution_run_id
        )
        await h.record(first_run, "convoy_continued_as_new")


@pytest.mark.parametrize(
    ("run", "phase", "reason", "cost"),
    [
        (Run(cost=0.75, silent=True), BeadPhase.DONE, "Completed", 0.75),
        (Run(phase=FAILED, silent=True), BeadPhase.FAILED, "AgentFailed", None),
    ],
    ids=["completed", "failed"],
)
async def test_a_lost_report_is_found_by_the_audit(
    convoy_harness: ConvoyHarness, run: Run, phase: BeadPhase, reason: str, cost: float | None
) -> None:
    script = convoy("lost", ["dm-1", "dm-2"], {"dm-2": [run]})
    async with convoy_harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("lost"))
        result = await result_of(handle)

        assert phases(result) == {"dm-1": BeadPhase.DONE, "dm-2": phase}
        bead = by_bead(result)["dm-2"]
        assert (bead.reason, bead.cost_usd) == (reason, cost)
        audits = h.doubles.args(c.POLECAT_REPORTS, d.CONVOY)
        assert audits and audits[-1] == [polecat_workflow_id(d.NAMESPACE, "lost-dm-2")]
        timers = [e for e in await history(handle)
                  if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]  # fmt: skip
        assert timers  # the audit's


async def test_a_convoy_gone_before_it_starts_ends_cancelled(
    convoy_harness: ConvoyHarness,
) -> None:
    script = convoy("gone", ["dm-1"])
    script.convoy_error = d.permanent(c.CONVOY_GONE, "convoy wftests/gone no longer exists")
    async with convoy_harness(script) as h:
        result = await result_of(await h.start_convoy(d.convoy_input("gone")))

        assert (result.phase, result.reason) == (ConvoyPhase.CANCELLED, c.CONVOY_GONE)
        assert dispatched(h) == [] and writes(h) == []


async def test_a_convoy_deleted_while_running_stops_dispatching(
    convoy_harness: ConvoyHarness,
) -> None:
    script = convoy("del", ["dm-1", "dm-2", "dm-3"], parallelism=1)
    script.convoy_gone = True
    async with convoy_harness(script) as h:
        result = await result_of(await h.start_convoy(d.convoy_input("del")))

        assert (result.phase, result.reason) == (ConvoyPhase.CANCELLED, c.CONVOY_GONE)
        assert dispatched(h) == ["del-dm-1"]
        assert phases(result)["dm-3"] == BeadPhase.SKIPPED
        assert h.doubles.args(c.NOTIFY_CONVOY, d.CONVOY) == []
        assert len(writes(h)) == 1  # the first write found it gone; no final write


async def test_a_refused_convoy_ends_failed_with_the_reason_in_its_status(
    convoy_harness: ConvoyHarness,
) -> None:
    script = convoy("norig", ["dm-1"])
    script.convoy_error = d.permanent(c.RIG_NOT_FOUND, "rig 'demo-rig' (spec.rigRef) not found")
    async with convoy_harness(script) as h:
        result = await result_of(await h.start_convoy(d.convoy_input("norig")))

        assert (result.phase, result.reason) == (ConvoyPhase.FAILED, c.RIG_NOT_FOUND)
        [write] = writes(h)
        assert (write.finished, write.event_type, write.progress.reason) == (
            True, "Warning", c.RIG_NOT_FOUND)  # fmt: skip


# ---------------------------------------------------------------- with real polecats
async def test_real_polecats_report_to_their_convoy_with_their_cost(
    harness: HarnessFactory,
) -> None:
    beads = ["dm-1", "dm-2"]
    others: dict[str, tuple[Resolved, Sequence[AttemptResult | Hold]]] = {
        f"real-{b}": (d.resolved(f"real-{b}", bead_id=b, convoy="real"),
                      [d.finished(Outcome.COMPLETED)])
        for b in beads
    }  # fmt: skip
    script = Script(d.resolved("unused"), convoy=d.resolved_convoy("real", beads),
                    others=others)  # fmt: skip
    async with harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("real"))
        result = await result_of(handle)

        assert result.phase == ConvoyPhase.COMPLETE
        assert result.cost_usd == pytest.approx(2 * d.COST)
        assert {b.pull_request_url for b in result.beads} == {d.PR_URL}
        requests: list[DispatchRequest] = h.doubles.args(c.DISPATCH_POLECAT, d.CONVOY)
        assert sorted(r.bead_id for r in requests) == beads
        # The real polecat's own steps ran, pod deletion scheduled included.
        assert h.doubles.names(polecat="real-dm-1")[-1] == c.SCHEDULE_POD_DELETION


async def test_a_real_polecat_reports_working_to_its_convoy(harness: HarnessFactory) -> None:
    hold = Hold()
    name = "live-dm-1"
    others: dict[str, tuple[Resolved, Sequence[AttemptResult | Hold]]] = {
        name: (d.resolved(name, bead_id="dm-1", convoy="live"), [hold])
    }
    script = Script(d.resolved("unused"), convoy=d.resolved_convoy("live", ["dm-1"]),
                    others=others)  # fmt: skip
    async with harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("live"))
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names(polecat=name))
        child = h.env.client.get_workflow_handle(polecat_workflow_id(d.NAMESPACE, name))
        await child.signal(
            PolecatWorkflow.pod_observed,
            PodObservation(pod=pod_name(name, 1), attempt=1, phase="Running"),
        )

        async def working() -> None:
            while (await handle.query(ConvoyWorkflow.progress)).beads[  # noqa: ASYNC110
                0
            ].polecat_phase != PolecatPhase.WORKING:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(working(), DEADLINE)
        hold.release(d.finished(Outcome.COMPLETED))
        result = await result_of(handle)
        assert (result.phase, result.beads[0].polecat_phase) == (
            ConvoyPhase.COMPLETE,
            PolecatPhase.DONE,
        )


async def test_a_polecat_queued_by_its_rig_shows_queued_in_its_convoy(
    harness: HarnessFactory,
) -> None:
    """The window is 2 but the rig allows 1: the second polecat waits for the rig's slot, and
    the convoy counts it as queued until the slot is granted."""
    holds = {b: Hold() for b in ("dm-1", "dm-2")}
    others: dict[str, tuple[Resolved, Sequence[AttemptResult | Hold]]] = {
        f"q-{b}": (d.resolved(f"q-{b}", bead_id=b, convoy="q", max_polecats=1), [hold])
        for b, hold in holds.items()
    }
    script = Script(d.resolved("unused"), convoy=d.resolved_convoy("q", list(holds),
                    parallelism=2), others=others)  # fmt: skip
    async with harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("q"))

        async def counted(queued: int, running: int) -> ConvoyProgress:
            while True:
                progress = await handle.query(ConvoyWorkflow.progress)
                if (progress.counts.queued, progress.counts.running) == (queued, running):
                    return progress
                await asyncio.sleep(0.02)

        await asyncio.wait_for(counted(1, 2), DEADLINE)
        await h.doubles.until(lambda: any(c.WAIT_POD in h.doubles.names(polecat=n) for n in others))
        first = next(n for n in others if c.WAIT_POD in h.doubles.names(polecat=n))
        holds[first.removeprefix("q-")].release(d.finished(Outcome.COMPLETED))
        # The slot passes to the other polecat: it leaves Queued in the convoy's count.
        await asyncio.wait_for(counted(0, 1), DEADLINE)
        second = next(b for b in holds if not holds[b].released)
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names(polecat=f"q-{second}"))
        holds[second].release(d.finished(Outcome.COMPLETED))
        result = await result_of(handle)
        assert (result.phase, result.counts.done) == (ConvoyPhase.COMPLETE, 2)
