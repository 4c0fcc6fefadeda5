"""A rig's slots in seconds: the real PolecatWorkflow and RigSlotsWorkflow on the time-skipping
test server, the Kubernetes activities played by the doubles.

Several polecats of one rig ask the rig's one RigSlotsWorkflow for a slot: over maxPolecats a
polecat waits as Queued (status written, query and search attribute say so, no pod) and starts
when a slot frees; a bead already being worked is refused unless the CR allows it; a nuke
reaches a queued polecat; and a holder whose workflow was terminated by hand is found and its
slot given to the next in line. `GASTOWN_RECORD_HISTORY=1` records the queued-then-started
history for tests/replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from gastown.api.identity import rig_slots_workflow_id
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    AttemptResult,
    NukeRequest,
    Resolved,
    SlotRequest,
    SlotsState,
)
from gastown.workflows.polecat import PolecatWorkflow
from gastown.workflows.rigslots import RigSlotsWorkflow
from tests.workflows import doubles as d
from tests.workflows.doubles import DEADLINE, Hold, Script
from tests.workflows.ghost import Ghost
from tests.workflows.harness import Handle, Harness, HarnessFactory

pytestmark = pytest.mark.timeout(60)


def rig_of(
    limit: int, polecats: dict[str, tuple[str, Sequence[AttemptResult | Hold]]], **extra: bool
) -> Script:
    """A rig with `limit` slots and these polecats: name -> (bead, waits)."""
    resolved: dict[str, tuple[Resolved, Sequence[AttemptResult | Hold]]] = {
        name: (
            d.resolved(name, bead_id=bead, work_branch=f"feature/{bead}", max_polecats=limit,
                       **extra),
            waits,
        )
        for name, (bead, waits) in polecats.items()
    }  # fmt: skip
    first = next(iter(resolved.values()))
    return Script(first[0], waits=first[1], others=resolved)


async def phase_of(handle: Handle) -> PolecatPhase:
    return (await handle.query(PolecatWorkflow.status)).phase


async def until_phase(handle: Handle, phase: PolecatPhase) -> None:
    """Poll the `status` query (a query has no event to wait on) until `phase`."""

    async def reached() -> None:
        while await phase_of(handle) != phase:  # noqa: ASYNC110 - polling a query, by design
            await asyncio.sleep(0.02)

    await asyncio.wait_for(reached(), DEADLINE)


async def slots(h: Harness) -> SlotsState:
    handle = h.env.client.get_workflow_handle(rig_slots_workflow_id(d.RIG, h.task_queue))
    return await handle.query(RigSlotsWorkflow.slots)


async def test_over_the_limit_a_polecat_queues_then_starts_when_a_slot_frees(
    harness: HarnessFactory,
) -> None:
    first, second = Hold(), Hold()
    script = rig_of(1, {"furiosa": ("dm-0001", [first]), "nux": ("dm-0002", [second])})
    async with harness(script) as h:
        a = await h.start(d.polecat_input("furiosa"))
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names(polecat="furiosa"))
        b = await h.start(d.polecat_input("nux"))
        await until_phase(b, PolecatPhase.QUEUED)

        # Queued: where the user looks, and no pod.
        state = await b.query(PolecatWorkflow.status)
        assert state.reason == "RigAtLimit"
        assert "rig demo-rig is at its limit of 1 active polecats; position 1" in (
            state.message or ""
        )
        assert (await b.describe()).typed_search_attributes.get(c.SA_PHASE) == "Queued"
        [queued] = [w for w in h.doubles.statuses() if w.name == "nux"]
        assert (queued.phase, queued.event_type) == (PolecatPhase.QUEUED, "Normal")
        assert h.doubles.names(polecat="nux") == [*d.START, c.UPDATE_STATUS]
        held = await slots(h)
        assert [x.polecat for x in held.holders] == [f"{d.NAMESPACE}/furiosa"]
        assert [x.polecat for x in held.waiting] == [f"{d.NAMESPACE}/nux"]
        # What the Temporal UI shows for the rig's slots workflow.
        meta = await h.env.client.get_workflow_handle(
            rig_slots_workflow_id(d.RIG, h.task_queue)
        ).query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "**1 of 1** slots of rig `demo-rig` taken" in meta.current_details
        assert f"1. `{d.NAMESPACE}/nux` (bead dm-0002)" in meta.current_details

        first.release(d.finished(Outcome.COMPLETED))
        assert (await asyncio.wait_for(a.result(), DEADLINE)).phase == PolecatPhase.DONE
        await h.doubles.until(lambda: c.LAUNCH_POD in h.doubles.names(polecat="nux"))
        second.release(d.finished(Outcome.COMPLETED))
        result = await asyncio.wait_for(b.result(), DEADLINE)
        assert (result.phase, result.attempts) == (PolecatPhase.DONE, 1)
        assert await slots(h) == SlotsState(rig=d.RIG, limit=1)  # both gave their slot back
        await h.record(b, "polecat_queued_then_started")


async def test_two_requests_for_the_last_slot_never_both_win(harness: HarnessFactory) -> None:
    names = ["ace", "dag", "keeper", "slit"]
    holds = {n: Hold() for n in names}
    script = rig_of(2, {n: (f"dm-{i}", [holds[n]]) for i, n in enumerate(names, start=1)})
    async with harness(script) as h:
        handles = await asyncio.gather(*(h.start(d.polecat_input(n)) for n in names))

        async def settled() -> list[PolecatPhase]:
            while True:
                phases = [await phase_of(x) for x in handles]
                if PolecatPhase.PENDING not in phases or (phases.count(PolecatPhase.QUEUED) == 2):
                    return phases
                await asyncio.sleep(0.02)

        phases = await asyncio.wait_for(settled(), DEADLINE)
        assert phases.count(PolecatPhase.QUEUED) == 2
        await h.doubles.until(
            lambda: sum(c.LAUNCH_POD in h.doubles.names(polecat=n) for n in names) == 2
        )
        held = await slots(h)
        assert len(held.holders) == 2 and len(held.waiting) == 2
        for hold in holds.values():
            hold.release(d.finished(Outcome.COMPLETED))
        await h.doubles.until(
            lambda: all(c.LAUNCH_POD in h.doubles.names(polecat=n) for n in names)
        )
        # One result at a time: the test server's time skipping mishandles concurrent
        # result calls now and then ("Application error processing RPC").
        results = [await asyncio.wait_for(x.result(), DEADLINE) for x in handles]
        assert [r.phase for r in results] == [PolecatPhase.DONE] * 4


async def test_a_bead_already_worked_is_refused(harness: HarnessFactory) -> None:
    working = Hold()
    script = rig_of(3, {"furiosa": ("dm-0001", [working]), "nux": ("dm-0001", [])})
    async with harness(script) as h:
        a = await h.start(d.polecat_input("furiosa"))
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names(polecat="furiosa"))
        refused = await h.start(d.polecat_input("nux"))
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(refused.result(), DEADLINE)
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == c.BEAD_ALREADY_WORKED
        [write] = [w for w in h.doubles.statuses() if w.name == "nux"]
        assert (write.phase, write.reason) == (PolecatPhase.FAILED, c.BEAD_ALREADY_WORKED)
        assert f"already being worked on by polecat {d.NAMESPACE}/furiosa" in write.message
        assert "--force" in write.message
        assert c.LAUNCH_POD not in h.doubles.names(polecat="nux")
        working.release(d.finished(Outcome.COMPLETED))
        await asyncio.wait_for(a.result(), DEADLINE)


async def test_a_bead_already_worked_is_worked_again_when_the_cr_allows_it(
    harness: HarnessFactory,
) -> None:
    """`sling --force` (the allow-same-bead annotation)."""
    again = Hold()
    allowed = rig_of(
        3,
        {"furiosa": ("dm-0001", [again]), "toast": ("dm-0001", [d.finished(Outcome.COMPLETED)])},
        allow_same_bead=True,
    )
    async with harness(allowed) as h:
        a = await h.start(d.polecat_input("furiosa"))
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names(polecat="furiosa"))
        b = await h.start(d.polecat_input("toast"))
        assert (await asyncio.wait_for(b.result(), DEADLINE)).phase == PolecatPhase.DONE
        again.release(d.finished(Outcome.COMPLETED))
        await asyncio.wait_for(a.result(), DEADLINE)


async def test_a_nuke_reaches_a_queued_polecat_and_its_place_is_given_back(
    harness: HarnessFactory,
) -> None:
    first = Hold()
    script = rig_of(1, {"furiosa": ("dm-0001", [first]), "nux": ("dm-0002", [])})
    async with harness(script) as h:
        a = await h.start(d.polecat_input("furiosa"))
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names(polecat="furiosa"))
        b = await h.start(d.polecat_input("nux"))
        await until_phase(b, PolecatPhase.QUEUED)
        state = await asyncio.wait_for(
            b.execute_update(PolecatWorkflow.nuke, NukeRequest(reason="not now")), DEADLINE
        )
        assert (state.phase, state.message) == (PolecatPhase.TERMINATED, "not now")
        assert c.LAUNCH_POD not in h.doubles.names(polecat="nux")
        assert [x.polecat for x in (await slots(h)).waiting] == []
        first.release(d.finished(Outcome.COMPLETED))
        await asyncio.wait_for(a.result(), DEADLINE)


async def test_a_holder_that_closed_without_releasing_gives_its_slot_to_the_next(
    harness: HarnessFactory,
) -> None:
    """A holder whose workflow closed without giving its slot back (terminated by hand: no
    code runs) is found while others wait (closed_workflows) and its slot goes to the next in
    line."""
    script = rig_of(1, {"nux": ("dm-0002", [d.finished(Outcome.COMPLETED)])})
    ghosts = "-ghosts"
    async with (
        harness(script) as h,
        Worker(h.env.client, task_queue=h.task_queue + ghosts, workflows=[Ghost]),
    ):
        ghost = await h.env.client.start_workflow(
            Ghost.run, id="polecat/elsewhere/ghost", task_queue=h.task_queue + ghosts
        )
        await h.env.client.start_workflow(
            RigSlotsWorkflow.run,
            SlotsState(rig=d.RIG, limit=1),
            id=rig_slots_workflow_id(d.RIG, h.task_queue),
            task_queue=h.task_queue,
            start_signal=c.SIGNAL_ACQUIRE,
            start_signal_args=[
                SlotRequest(
                    rig=d.RIG,
                    workflow_id=ghost.id,
                    run_id=ghost.result_run_id or "",
                    polecat="elsewhere/ghost",
                    bead_id="dm-0009",
                    limit=1,
                )
            ],
        )
        assert await asyncio.wait_for(ghost.result(), DEADLINE) == "granted"
        b = await h.start(d.polecat_input("nux"))
        await until_phase(b, PolecatPhase.QUEUED)
        # Awaiting the result lets the server's clock reach the slots workflow's audit.
        result = await asyncio.wait_for(b.result(), DEADLINE)
        assert result.phase == PolecatPhase.DONE
        [asked] = h.doubles.args(c.CLOSED_WORKFLOWS, workflow="RigSlotsWorkflow")
        assert asked == [ghost.id]


async def test_the_slots_workflow_continues_as_new_with_its_holders_and_queue(
    harness: HarnessFactory,
) -> None:
    """A run takes a bounded number of requests (a long history slows every replay); the next
    run carries who holds a slot and who waits."""
    first = Hold()
    script = rig_of(
        1,
        {
            "furiosa": ("dm-0001", [first]),
            "nux": ("dm-0002", [d.finished(Outcome.COMPLETED)]),
            "toast": ("dm-0003", [d.finished(Outcome.COMPLETED)]),
        },
    )
    async with harness(script) as h:
        slots_handle = await h.env.client.start_workflow(
            RigSlotsWorkflow.run,
            SlotsState(rig=d.RIG, limit=1, requests_per_run=2),
            id=rig_slots_workflow_id(d.RIG, h.task_queue),
            task_queue=h.task_queue,
        )
        a = await h.start(d.polecat_input("furiosa"))
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names(polecat="furiosa"))
        b = await h.start(d.polecat_input("nux"))
        await until_phase(b, PolecatPhase.QUEUED)
        toast = await h.start(d.polecat_input("toast"))
        await until_phase(toast, PolecatPhase.QUEUED)

        held = await slots(h)  # the newest run answers
        assert held.requests_per_run == 2
        assert [x.polecat for x in held.holders] == [f"{d.NAMESPACE}/furiosa"]
        assert [x.polecat for x in held.waiting] == [f"{d.NAMESPACE}/nux", f"{d.NAMESPACE}/toast"]
        first_run = h.env.client.get_workflow_handle(
            slots_handle.id, run_id=slots_handle.result_run_id
        )
        assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

        first.release(d.finished(Outcome.COMPLETED))
        for handle in (a, b, toast):
            assert (await asyncio.wait_for(handle.result(), DEADLINE)).phase == PolecatPhase.DONE
