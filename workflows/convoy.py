"""ConvoyWorkflow: a batch of beads, one child PolecatWorkflow each, through a sliding window.

The Convoy CR is the one way in (its beads are read from the CR, never from the input). Each
bead gets a Polecat CR (dispatch_polecat) and a child PolecatWorkflow started with
ParentClosePolicy.ABANDON: the close policy applies at continue-as-new too, where TERMINATE
would kill the running polecats and REQUEST_CANCEL would nuke them. A child's end therefore
never reaches us through its handle (a new run has none); every polecat reports by signal to
this workflow's ID, which reaches the current run, and an audit every AUDIT_SECONDS asks for
the outcome of polecats whose workflows closed without a report (terminated from the UI).

The bookkeeping is in convoyplan.py; this module dispatches, waits and writes. The CR's status
is written by one loop, at most every WRITE_GAP seconds however many reports arrive (LARGE_GAP
for a convoy of more than LARGE beads: each write carries the whole per-bead list).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from gastown.api.convoy import BeadPhase, ConvoyPhase, FailurePolicy
    from gastown.api.identity import polecat_workflow_id
    from gastown.api.polecat import PolecatPhase
    from gastown.workflows import contract as c
    from gastown.workflows import convoyplan as plan
    from gastown.workflows.calls import short_call
    from gastown.workflows.failures import error_text
    from gastown.workflows.messages import (
        AddBeads,
        CancelConvoy,
        ConvoyBead,
        ConvoyCarry,
        ConvoyInput,
        ConvoyNotice,
        ConvoyProgress,
        ConvoyStatusUpdate,
        DispatchRequest,
        NukePolecats,
        PolecatInput,
        PolecatReport,
        ResolvedConvoy,
    )
    from gastown.workflows.tracing import trace_id

AUDIT_SECONDS = 60  # while polecats run: look for those that closed without a report
WRITE_GAP = 0.5  # seconds between two status writes: at most ~2 a second
LARGE = 100  # beads above which a status write is costly (bench/convoy_bench.py): ...
LARGE_GAP = 1.0  # ... and written at most once a second
# The closing notice (an Event, maybe a POST): tried a few times, never blocking the end.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=c.PERMANENT,
)
NOTIFY_TIMEOUT = timedelta(seconds=30)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """A child's outcome arrives by signal; its handle's is read only so asyncio keeps quiet."""
    if not task.cancelled():
        task.exception()


@workflow.defn(name=c.CONVOY_WORKFLOW)
class ConvoyWorkflow:
    @workflow.init
    def __init__(self, inp: ConvoyInput) -> None:
        # Reports can be delivered before `run` starts (a new run's first task): the carried
        # beads must already be here to take them.
        carry = inp.carried or ConvoyCarry(beads=[])
        self._input = inp
        self._beads: list[ConvoyBead] = list(carry.beads)
        self._index = {b.workflow_id: i for i, b in enumerate(self._beads) if b.workflow_id}
        self._cost = carry.cost_usd
        self._stop_reason = carry.stop_reason
        self._stop_message = carry.stop_message
        self._cancelled = carry.cancelled
        self._started_at: datetime | None = carry.started_at
        self._runs = carry.runs
        self._resolved: ResolvedConvoy | None = None
        self._early: list[PolecatReport] = []
        self._phase = ConvoyPhase.PENDING
        self._changes = 0
        self._dirty = False
        self._stale = False  # the UI's details and attributes behind the beads
        self._event: str | None = None  # an Event to send with the next status write
        self._closing = False  # the writer's last write, then it ends
        self._leaving = False  # continue-as-new: the writer ends without writing
        self._gone = False
        self._finished = False
        self._percent = -1
        self._dispatches = 0  # this run's

    # ------------------------------------------------------------------ messages
    @workflow.query(name=c.QUERY_PROGRESS)
    def progress(self) -> ConvoyProgress:
        return self._progress()

    @workflow.signal(name=c.SIGNAL_POLECAT_REPORT)
    def polecat_report(self, report: PolecatReport) -> None:
        self._apply(report)

    @workflow.update(name=c.UPDATE_ADD_BEADS)
    async def add_beads(self, request: AddBeads) -> ConvoyProgress:
        # `convoy add` wrote the beads to the CR first: take only what the CR says.
        try:
            resolved = await self._resolve()
        except (ActivityError, ApplicationError) as err:
            kind, text = error_text(err)
            raise ApplicationError(f"{kind}: {text}", type=kind, non_retryable=True) from None
        if self._stop_reason is None and not self._finished:
            self._resolved = resolved
            wanted = [b for b in request.beads if b in set(resolved.beads)]
            self._beads.extend(plan.new_beads((b.bead_id for b in self._beads), wanted))
            self._changed()
        return self._progress()

    @add_beads.validator
    def _validate_add(self, request: AddBeads) -> None:
        if not request.beads:
            raise ValueError("no beads to add")
        if self._finished or self._stop_reason is not None:
            raise ValueError(
                f"the convoy is {'finished' if self._finished else 'stopping'} "
                f"({self._stop_reason or self._phase.value}): create a new convoy"
            )

    @workflow.update(name=c.UPDATE_CANCEL)
    async def cancel(self, request: CancelConvoy) -> ConvoyProgress:
        self._stop(plan.CANCELLED, request.reason, cancelled=True)
        ids = [b.workflow_id for b in plan.running(self._beads) if b.workflow_id]
        if request.nuke and ids:
            # A regular activity: it waits for each polecat's workflow to accept its nuke, and
            # a local one would hold a workflow task slot those workflows may need.
            await workflow.execute_activity(
                c.NUKE_POLECATS,
                NukePolecats(workflow_ids=ids, reason=request.reason),
                start_to_close_timeout=c.API_TIMEOUT,
                retry_policy=c.API_RETRY,
            )
        return self._progress()

    @cancel.validator
    def _validate_cancel(self, request: CancelConvoy) -> None:
        if self._finished:
            raise ValueError(f"the convoy already finished ({self._phase.value})")

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, inp: ConvoyInput) -> ConvoyProgress:
        self._started_at = self._started_at or workflow.now()
        try:
            self._resolved = await self._resolve()
        except (ActivityError, ApplicationError) as err:
            kind, text = error_text(err)
            if not plan.running(self._beads):
                return await self._end_refused(kind, text)
            # A continued run whose CR or rig went: the running polecats still report.
            self._gone = kind == c.CONVOY_GONE
            self._stop(kind, text, cancelled=self._gone)
        self._begin()
        writer = asyncio.create_task(self._writer())
        while True:
            self._refresh()
            await self._dispatch_free()
            self._refresh()
            if not self._active():
                # Only when no update is half-way (add_beads may be reading the CR).
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._active():
                    break
                continue
            if self._due_for_new_run():
                # Between steps: the writer's last write done, then no update half-way
                # (checked last, so none can start in between).
                await self._close(writer, leaving=True)
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    ConvoyInput(
                        namespace=inp.namespace,
                        name=inp.name,
                        uid=inp.uid,
                        carried=self._carry(),
                        dispatches_per_run=inp.dispatches_per_run,
                    )
                )
            try:
                await self._next_change()
            except TimeoutError:
                await self._audit()
        self._finished = True
        await self._close(writer)
        return await self._end()

    def _begin(self) -> None:
        r = self._resolved
        if r is not None:
            if not self._beads and self._runs == 1:
                self._beads = plan.new_beads((), r.beads)
            workflow.upsert_search_attributes(
                [c.SA_RIG.value_set(r.rig), c.SA_CONVOY.value_set(r.name)]
            )
        for report in self._early:
            self._apply(report)
        self._early.clear()
        self._phase = ConvoyPhase.IN_PROGRESS
        self._changed()

    async def _next_change(self) -> None:
        """Wait for a report, an update or a stop; TimeoutError after AUDIT_SECONDS."""
        seen = self._changes
        await workflow.wait_condition(
            lambda: self._changes != seen, timeout=timedelta(seconds=AUDIT_SECONDS)
        )

    def _active(self) -> bool:
        """Polecats running, or beads left to dispatch."""
        if plan.running(self._beads):
            return True
        return self._stop_reason is None and plan.next_pending(self._beads) is not None

    def _due_for_new_run(self) -> bool:
        return (
            self._dispatches >= self._input.dispatches_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    def _carry(self) -> ConvoyCarry:
        return ConvoyCarry(
            beads=self._beads,
            cost_usd=self._cost,
            stop_reason=self._stop_reason,
            stop_message=self._stop_message,
            cancelled=self._cancelled,
            started_at=self._started_at,
            runs=self._runs + 1,
        )

    # ------------------------------------------------------------------ dispatch
    async def _dispatch_free(self) -> None:
        """Fill the window: dispatch the next beads while fewer than `window` polecats run,
        several at once (their CRs and starts in one workflow task)."""
        r = self._resolved
        while r is not None and self._stop_reason is None:
            if plan.counts(self._beads).waiting:
                return  # paused: a new polecat would only park beside them
            free = min(
                r.window - len(plan.running(self._beads)),
                self._input.dispatches_per_run - self._dispatches,
            )
            picks = [i for i, b in enumerate(self._beads) if b.phase == BeadPhase.PENDING][:free]
            if not picks:
                return
            await asyncio.gather(*(self._dispatch(r, i) for i in picks))

    async def _dispatch(self, r: ResolvedConvoy, i: int) -> None:
        bead = self._beads[i]
        try:
            inp: PolecatInput = await short_call(
                c.DISPATCH_POLECAT,
                DispatchRequest(
                    namespace=r.namespace,
                    convoy=r.name,
                    convoy_uid=r.uid,
                    rig=r.rig,
                    bead_id=bead.bead_id,
                    retry=bead.attempts,
                    agent=r.agent,
                ),
                PolecatInput,
            )
        except (ActivityError, ApplicationError) as err:
            kind, text = error_text(err)
            self._refuse(i, kind, text)
            return
        if self._beads[i].phase != BeadPhase.PENDING:
            return  # stopped meanwhile: the CR stays unstarted (the watcher leaves it be)
        wid = polecat_workflow_id(r.namespace, inp.name)
        self._beads[i] = plan.dispatched(self._beads[i], inp.name, wid)
        self._index[wid] = i
        self._dispatches += 1
        self._changed()
        try:
            child = await workflow.start_child_workflow(
                c.POLECAT_WORKFLOW,
                inp,
                id=wid,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(c.SA_RIG, r.rig),
                        SearchAttributePair(c.SA_BEAD, bead.bead_id),
                        SearchAttributePair(c.SA_POLECAT, inp.name),
                        SearchAttributePair(c.SA_CONVOY, r.name),
                        SearchAttributePair(c.SA_PHASE, PolecatPhase.PENDING.value),
                    ]
                ),
                static_summary=f"bead {bead.bead_id} of convoy {r.name}",
            )
        except WorkflowAlreadyStartedError:
            return  # started before (a retried task): it reports to this workflow ID all the same
        child.add_done_callback(_retrieve)

    def _refuse(self, i: int, kind: str, text: str) -> None:
        """The bead's Polecat could not be created (refused for good): the bead failed."""
        bead = self._beads[i]
        self._beads[i] = bead.model_copy(
            update={
                "phase": BeadPhase.FAILED,
                "attempts": bead.attempts + 1,
                "reason": kind,
                "message": text,
            }
        )
        self._after_failure(self._beads[i])
        self._changed()

    # ------------------------------------------------------------------ reports
    def _apply(self, report: PolecatReport) -> None:
        i = self._index.get(report.workflow_id)
        if i is None or not plan.applies(self._beads[i], report):
            return
        if self._resolved is None and self._stop_reason is None:
            self._early.append(report)  # before the CR was read: applied once it is
            return
        bead = plan.apply_report(
            self._beads[i],
            report,
            self._resolved.failure_policy if self._resolved else FailurePolicy.CONTINUE,
            self._resolved.max_retries if self._resolved else 0,
            stopping=self._stop_reason is not None,
        )
        before, self._beads[i] = self._beads[i], bead
        if plan.waiting_bead(before) != plan.waiting_bead(bead):
            # The first polecat to park pauses the convoy, the last to resume lifts the pause:
            # an Event for each (counted only then, not on every report).
            left = plan.counts(self._beads).waiting
            if left == (1 if plan.waiting_bead(bead) else 0):
                self._event = self._event or ("Warning" if left else "Normal")
        if report.phase.is_final and report.agent_cost_usd:
            self._cost += report.agent_cost_usd
            cap = self._resolved.max_cost_usd if self._resolved else None
            if cap is not None and self._cost >= cap:
                self._stop(
                    plan.MAX_COST_REACHED,
                    f"the polecats' agent cost ${self._cost:.2f} reached spec.maxCostUSD "
                    f"${cap:.2f}: nothing new is dispatched",
                )
        self._after_failure(bead)
        self._changed()

    def _after_failure(self, bead: ConvoyBead) -> None:
        policy = self._resolved.failure_policy if self._resolved else FailurePolicy.CONTINUE
        if bead.phase == BeadPhase.FAILED and policy == FailurePolicy.STOP:
            self._stop(
                plan.STOPPED_ON_FAILURE,
                f"bead {bead.bead_id} failed ({bead.reason}): failurePolicy Stop",
            )

    def _stop(self, reason: str, message: str, *, cancelled: bool = False) -> None:
        """Dispatch nothing more; running polecats finish. A cancel wins over an earlier stop."""
        if self._stop_reason is not None and not (cancelled and not self._cancelled):
            return
        self._stop_reason, self._stop_message = reason, message
        self._cancelled = self._cancelled or cancelled
        self._beads = plan.stop(self._beads)
        self._event = "Warning"
        self._changed()

    async def _audit(self) -> None:
        """Outcomes of polecats whose workflows closed without a report reaching us."""
        ids = [b.workflow_id for b in plan.running(self._beads) if b.workflow_id]
        if not ids:
            return
        with contextlib.suppress(ActivityError):  # next time, then
            reports: list[PolecatReport] = await workflow.execute_activity(
                c.POLECAT_REPORTS,
                ids,
                result_type=list[PolecatReport],
                start_to_close_timeout=c.API_TIMEOUT,
                retry_policy=c.API_RETRY,
            )
            for report in reports:
                self._apply(report)

    # ------------------------------------------------------------------ progress
    def _progress(self) -> ConvoyProgress:
        n = plan.counts(self._beads)
        reason, message = self._stop_reason, self._stop_message
        pause = plan.paused(n)
        if reason is None and pause is not None and not self._finished:
            reason, message = pause
        return ConvoyProgress(
            phase=self._phase,
            counts=n,
            cost_usd=self._cost,
            reason=reason,
            message=message,
            beads=self._beads,
        )

    def _changed(self) -> None:
        """Something moved: wake the loop and the writer; the UI is refreshed once the loop
        runs (_refresh), not per report: a burst of reports in one workflow task is one
        rendering of the details."""
        self._changes += 1
        self._dirty = True
        self._stale = True

    def _refresh(self) -> None:
        """Keep the UI in step: the details markdown, the progress and phase attributes."""
        if not self._stale:
            return
        self._stale = False
        n = plan.counts(self._beads)
        title = self._resolved.description if self._resolved else self._input.name
        details = plan.details(title, self._phase, self._beads, self._cost, self._stop_reason, n)
        trace = trace_id()
        workflow.set_current_details(f"{details}\n\ntrace `{trace}`" if trace else details)
        updates: list[SearchAttributeUpdate[Any]] = []
        percent = plan.percent(n)
        if percent != self._percent:  # one upsert per percent, not per report
            self._percent = percent
            updates.append(c.SA_PROGRESS.value_set(percent))
        if workflow.info().typed_search_attributes.get(c.SA_PHASE) != self._phase.value:
            updates.append(c.SA_PHASE.value_set(self._phase.value))
        if updates:
            workflow.upsert_search_attributes(updates)

    async def _writer(self) -> None:
        """The CR's status, at most every WRITE_GAP seconds (LARGE_GAP for a large convoy): a
        burst of reports is one write."""
        last: datetime | None = None
        while True:
            await workflow.wait_condition(lambda: self._dirty or self._closing)
            if not self._dirty or self._leaving:
                return
            if last is not None and not self._closing:
                every = LARGE_GAP if len(self._beads) > LARGE else WRITE_GAP
                gap = every - (workflow.now() - last).total_seconds()
                if gap > 0:
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(
                            lambda: self._closing, timeout=timedelta(seconds=gap)
                        )
                    if self._leaving:
                        return
            self._dirty = False
            event, self._event = self._event, None
            try:
                await self._write(event_type=event)
            except (ActivityError, ApplicationError) as err:
                if error_text(err)[0] == c.CONVOY_GONE:
                    self._gone = True
                    self._stop(c.CONVOY_GONE, "the Convoy was deleted", cancelled=True)
                    return
            last = workflow.now()

    async def _close(self, writer: asyncio.Task[None], *, leaving: bool = False) -> None:
        """Let the writer write what is pending and end; when `leaving` (continue-as-new), end
        it without a write unless an Event waits: the next run writes first thing, and a
        closing task that waits for a write is a wider window for a report to arrive and the
        server to refuse the continue-as-new (UnhandledCommand: the task retried, the run
        replayed)."""
        self._leaving = leaving and self._event is None
        self._closing = True
        await writer

    async def _write(self, *, finished: bool = False, event_type: str | None = None) -> None:
        r = self._input
        await short_call(
            c.UPDATE_CONVOY_STATUS,
            ConvoyStatusUpdate(
                namespace=r.namespace,
                name=r.name,
                uid=r.uid,
                workflow_id=workflow.info().workflow_id,
                progress=self._progress(),
                started_at=self._started_at,
                finished=finished,
                event_type=event_type,
            ),
        )

    # ------------------------------------------------------------------ the end
    async def _end(self) -> ConvoyProgress:
        self._phase = plan.final_phase(self._beads, self._cancelled)
        n = plan.counts(self._beads)
        if self._stop_reason is None:
            done = self._phase == ConvoyPhase.COMPLETE
            self._stop_reason = "AllBeadsDone" if done else "BeadsFailed"
        self._stop_message = "; ".join(
            x for x in (self._stop_message, plan.summary(n, self._cost)) if x
        )
        self._changed()
        self._refresh()
        event = "Normal" if self._phase == ConvoyPhase.COMPLETE else "Warning"
        if not self._gone:
            with contextlib.suppress(ActivityError, ApplicationError):
                await self._write(finished=True, event_type=event)
            await self._notify()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._progress()

    async def _end_refused(self, kind: str, text: str) -> ConvoyProgress:
        """The CR could not be read or used before anything was dispatched."""
        self._finished = True
        self._gone = kind == c.CONVOY_GONE
        self._cancelled = self._gone
        self._phase = ConvoyPhase.CANCELLED if self._gone else ConvoyPhase.FAILED
        self._stop_reason, self._stop_message = kind, text
        self._changed()
        self._refresh()
        if not self._gone:
            with contextlib.suppress(ActivityError, ApplicationError):
                await self._write(finished=True, event_type="Warning")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._progress()

    async def _notify(self) -> None:
        r = self._resolved
        if r is None or not r.notify:
            return
        with contextlib.suppress(ActivityError):  # a notice never fails the convoy
            await workflow.execute_activity(
                c.NOTIFY_CONVOY,
                ConvoyNotice(
                    namespace=r.namespace,
                    name=r.name,
                    uid=r.uid,
                    description=r.description,
                    progress=self._progress(),
                ),
                start_to_close_timeout=NOTIFY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            )

    # ------------------------------------------------------------------ helpers
    async def _resolve(self) -> ResolvedConvoy:
        i = self._input
        resolved: ResolvedConvoy = await short_call(
            c.RESOLVE_CONVOY,
            ConvoyInput(namespace=i.namespace, name=i.name, uid=i.uid),
            ResolvedConvoy,
        )
        return resolved
