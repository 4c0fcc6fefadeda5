"""A stand-in convoy for the Temporal UI check: what the UI sees of a convoy, nothing more.

It shows itself to the UI the way ConvoyWorkflow does (CONVOY.md, "Progress"): its ID from
convoy_workflow_id, a static summary set at start, search attributes GastownConvoy/GastownPhase/
GastownProgress, current details as markdown in the same shape (phase, finished/total (percent),
then the counts and cost, then a bead → polecat → phase → branch table), and one child per bead
with the polecat's workflow ID and search attributes, ParentClosePolicy.ABANDON. The children
are stand-ins too: they do no work, the last one waits to be released, so the convoy is seen
in progress, as people watch it. What is checked is the UI's rendering of these, not the
convoy's logic (tests/workflows has that).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from gastown.api.identity import convoy_polecat_name, polecat_workflow_id
from gastown.workflows import contract as c

RELEASE = "release"


@dataclass
class StandInPolecatInput:
    bead: str
    hold: bool = False  # wait for the release signal before finishing


@dataclass
class StandInConvoyInput:
    namespace: str
    name: str
    rig: str
    beads: list[str] = field(default_factory=list)
    # The last bead's polecat stays Working until released: the convoy is seen in progress.
    hold_last: bool = True


@workflow.defn(name="StandInPolecatWorkflow")
class StandInPolecatWorkflow:
    def __init__(self) -> None:
        self._released = False

    @workflow.signal(name=RELEASE)
    def release(self) -> None:
        self._released = True

    @workflow.run
    async def run(self, inp: StandInPolecatInput) -> str:
        workflow.upsert_search_attributes([c.SA_PHASE.value_set("Working")])
        workflow.set_current_details(f"**Working** · bead {inp.bead}")
        if inp.hold:
            await workflow.wait_condition(lambda: self._released)
        workflow.upsert_search_attributes([c.SA_PHASE.value_set("Done")])
        workflow.set_current_details(f"**Done** · bead {inp.bead} · branch feature/{inp.bead}")
        return f"feature/{inp.bead}"


def polecat_ids(inp: StandInConvoyInput) -> list[str]:
    return [polecat_workflow_id(inp.namespace, convoy_polecat_name(inp.name, b)) for b in inp.beads]


@workflow.defn(name="StandInConvoyWorkflow")
class StandInConvoyWorkflow:
    def __init__(self) -> None:
        self._phase: dict[str, str] = {}

    @workflow.run
    async def run(self, inp: StandInConvoyInput) -> str:
        total = len(inp.beads)
        workflow.upsert_search_attributes(
            [c.SA_RIG.value_set(inp.rig), c.SA_CONVOY.value_set(inp.name)]
        )
        self._show(inp, "InProgress")
        children = []
        for i, (bead, wid) in enumerate(zip(inp.beads, polecat_ids(inp), strict=True)):
            polecat = convoy_polecat_name(inp.name, bead)
            children.append(
                await workflow.start_child_workflow(
                    StandInPolecatWorkflow.run,
                    StandInPolecatInput(bead, hold=inp.hold_last and i == total - 1),
                    id=wid,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(c.SA_RIG, inp.rig),
                            SearchAttributePair(c.SA_BEAD, bead),
                            SearchAttributePair(c.SA_POLECAT, polecat),
                            SearchAttributePair(c.SA_CONVOY, inp.name),
                        ]
                    ),
                )
            )
            self._phase[bead] = "Working"
        self._show(inp, "InProgress")

        async def follow(bead: str, child: workflow.ChildWorkflowHandle[Any, str]) -> None:
            await child
            self._phase[bead] = "Done"
            self._show(inp, "InProgress")

        await asyncio.gather(*(follow(b, h) for b, h in zip(inp.beads, children, strict=True)))
        self._show(inp, "Complete")
        return "Complete"

    def _show(self, inp: StandInConvoyInput, phase: str) -> None:
        total = len(inp.beads)
        done = sum(1 for p in self._phase.values() if p == "Done")
        running = sum(1 for p in self._phase.values() if p == "Working")
        percent = done * 100 // total if total else 100
        workflow.upsert_search_attributes(
            [c.SA_PHASE.value_set(phase), c.SA_PROGRESS.value_set(percent)]
        )
        rows = ["| bead | polecat | phase | branch / PR |", "|---|---|---|---|"]
        for bead in inp.beads:
            state = self._phase.get(bead, "Pending")
            branch = f"`feature/{bead}`" if state == "Done" else ""
            rows.append(f"| {bead} | {convoy_polecat_name(inp.name, bead)} | {state} | {branch} |")
        workflow.set_current_details(
            "\n\n".join(
                [
                    f"**{phase}** · {done}/{total} ({percent}%) · {inp.name}",
                    f"done {done} · running {running} · queued 0 · "
                    f"pending {total - done - running} · failed 0 · skipped 0 · cost $0.00",
                    "\n".join(rows),
                ]
            )
        )
