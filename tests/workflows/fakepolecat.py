"""A stand-in PolecatWorkflow for the convoy tests, registered under the real one's name.

It reports to its parent as the real one does (Working on start; how it ended at the end, to
the parent's workflow ID), answers the nuke Update, and takes its outcome from the
`fake_polecat_run` activity double (tests/workflows/doubles.py), which plays each bead's
script: Done or Failed, the agent's cost, held until the test lets it go, or closing without
its last report (a lost signal the convoy's audit must find; a silent failure fails the
workflow, as the real one's refused path does).

In a module of its own: the workflow sandbox re-imports a workflow's module, and a test
module's imports are not sandbox-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from gastown.api.polecat import Outcome, PolecatPhase
    from gastown.workflows import contract as c
    from gastown.workflows.messages import (
        Message,
        NukeRequest,
        PolecatInput,
        PolecatReport,
        PolecatResult,
    )

FAKE_RUN = "fake_polecat_run"
# The test parks (True) and resumes (False) a polecat as the real one does for credentials:
# it reports WaitingForCredentials, then Working again.
FAKE_PARK = "fake_park"


class FakeOutcome(Message):
    bead_id: str
    phase: PolecatPhase
    cost_usd: float | None = None
    silent: bool = False  # end without the final report


@workflow.defn(name=c.POLECAT_WORKFLOW)
class FakePolecat:
    def __init__(self) -> None:
        self._nuke: NukeRequest | None = None
        self._done = False
        self._name = ""
        self._reports: list[asyncio.Task[None]] = []

    @workflow.signal(name=FAKE_PARK)
    def park(self, parked: bool) -> None:
        phase = PolecatPhase.WAITING_FOR_CREDENTIALS if parked else PolecatPhase.WORKING
        report = PolecatReport(workflow_id="", polecat=self._name, bead_id="", phase=phase)
        self._reports.append(asyncio.create_task(self._report(report)))

    @workflow.update(name=c.UPDATE_NUKE)
    async def nuke(self, request: NukeRequest) -> None:
        self._nuke = request
        await workflow.wait_condition(lambda: self._done)

    @nuke.validator
    def _validate_nuke(self, request: NukeRequest) -> None:
        if self._done:
            raise ValueError("the polecat already finished")

    @workflow.run
    async def run(self, inp: PolecatInput) -> PolecatResult:
        self._name = inp.name
        await self._report(PolecatReport(workflow_id="", polecat=inp.name, bead_id="",
                                         phase=PolecatPhase.WORKING))  # fmt: skip
        handle = workflow.start_activity(
            FAKE_RUN,
            inp,
            result_type=FakeOutcome,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        await workflow.wait_condition(lambda: handle.done() or self._nuke is not None)
        if handle.done():
            outcome = await handle
        else:
            handle.cancel()
            with contextlib.suppress(ActivityError):
                await handle
            outcome = FakeOutcome(bead_id="", phase=PolecatPhase.TERMINATED)
        done = outcome.phase == PolecatPhase.DONE
        result = PolecatResult(
            phase=outcome.phase,
            outcome=Outcome.COMPLETED if done else Outcome.TERMINATED if self._nuke else None,
            reason="Completed" if done else "Nuked" if self._nuke else "AgentFailed",
            message="" if done else "the agent failed",
            attempts=1,
            branch=f"feature/{outcome.bead_id}" if outcome.bead_id else None,
            agent_cost_usd=outcome.cost_usd,
        )
        if outcome.silent and outcome.phase == PolecatPhase.FAILED:
            # Fails as the real one does on its refused path, without the report.
            self._done = True
            raise ApplicationError("the agent failed", type="AgentFailed", non_retryable=True)
        await asyncio.gather(*self._reports)
        if not outcome.silent:
            await self._report(
                PolecatReport(
                    workflow_id="",
                    polecat=inp.name,
                    bead_id=outcome.bead_id,
                    phase=result.phase,
                    outcome=result.outcome,
                    reason=result.reason,
                    message=result.message,
                    branch=result.branch,
                    agent_cost_usd=result.agent_cost_usd,
                    attempts=1,
                )
            )
        self._done = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    @staticmethod
    async def _report(report: PolecatReport) -> None:
        info = workflow.info()
        if info.parent is None:
            return
        with contextlib.suppress(FailureError):
            await workflow.get_external_workflow_handle(info.parent.workflow_id).signal(
                c.SIGNAL_POLECAT_REPORT, report.model_copy(update={"workflow_id": info.workflow_id})
            )
