"""RigSlotsWorkflow: a rig's maxPolecats and "this bead is already being worked", decided once.

Every polecat of a rig — slung, applied with kubectl, or (next) dispatched by a convoy — asks
this one workflow (ID `rig-slots/<task queue>/<rig>`, started by the first request) for a slot
before its first pod. Messages are handled one at a time in the workflow's own loop, so two
requests for the last slot can never both win, whichever path they came from. A request is
signalled (signal-with-start), and so is the answer: granted, queued (with the position: the
polecat shows Queued) or refused (the bead is already being worked by another polecat and the
request did not ask to work it anyway); a queued polecat learns of its grant the same way.
No activity ever waits on this workflow: a local activity blocked on a workflow served by the
same worker could hold the very slots that workflow needs.

A holder gives its slot back when its workflow finishes (`release`). One that cannot — a
workflow terminated from the Temporal UI, say — would hold its slot forever, so while
polecats wait the workflow asks, now and then, which holders' workflows have closed
(`closed_workflows`, an activity) and frees their slots. An answer that cannot be delivered
(the requester's workflow is gone) frees the slot at once.

The limit is the rig's `maxPolecats` as the newest request read it: raising it lets the
queue move on the next request or release. With nobody holding or waiting the workflow
completes after a while; the next request starts a new run. Long-lived rigs continue-as-new
after `requests_per_run` requests or when the SDK suggests it, carrying holders and the queue.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from gastown.workflows import contract as c
    from gastown.workflows.messages import (
        SlotAnswer,
        SlotAnswerKind,
        SlotHolder,
        SlotRelease,
        SlotRequest,
        SlotsState,
    )

# How long an idle rig's slots workflow stays open, and how often waiting polecats make it
# look for holders whose workflows closed without releasing.
IDLE_SECONDS = 600
AUDIT_SECONDS = 60


@workflow.defn(name=c.RIG_SLOTS_WORKFLOW)
class RigSlotsWorkflow:
    def __init__(self) -> None:
        self._state = SlotsState(rig="")
        self._inbox: list[SlotRequest | SlotRelease] = []
        self._requests = 0

    @workflow.signal(name=c.SIGNAL_ACQUIRE)
    def acquire(self, request: SlotRequest) -> None:
        self._requests += 1
        self._inbox.append(request)

    @workflow.signal(name=c.SIGNAL_RELEASE)
    def release(self, release: SlotRelease) -> None:
        self._inbox.append(release)

    @workflow.query(name=c.QUERY_SLOTS)
    def slots(self) -> SlotsState:
        return self._state

    @workflow.run
    async def run(self, state: SlotsState) -> None:
        self._state = state
        while True:
            idle = not self._state.holders and not self._state.waiting
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox),
                    timeout=timedelta(seconds=IDLE_SECONDS if idle else AUDIT_SECONDS),
                )
            except TimeoutError:
                if idle and not self._inbox:
                    return
                if self._state.waiting and not self._inbox:
                    await self._audit()
            answers: list[tuple[str, SlotAnswer]] = []
            asked: set[str] = set()
            while self._inbox:
                message = self._inbox.pop(0)
                if isinstance(message, SlotRequest):
                    asked.add(message.workflow_id)
                    answers.extend(self._on_request(message))
                else:
                    self._drop(message.workflow_id, message.run_id)
            answers.extend(self._grant())
            answers.extend(self._queued(asked))
            await self._send(answers)
            workflow.set_current_details(self._details())
            if self._inbox:
                continue
            if (
                self._requests >= self._state.requests_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                # Holders and the queue go to a fresh run. A request signalled meanwhile makes
                # the server refuse this command; the task runs again and handles it first.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state)

    def _details(self) -> str:
        """What the Temporal UI shows for the rig: who holds its slots, who waits."""
        s = self._state
        header = f"**{len(s.holders)} of {s.limit}** slots of rig `{s.rig}` taken"
        body = [f"- `{h.polecat}` (bead {h.bead_id})" for h in s.holders]
        if s.waiting:
            body.append(f"**{len(s.waiting)} waiting**")
            body += [f"{i}. `{w.polecat}` (bead {w.bead_id})" for i, w in enumerate(s.waiting, 1)]
        return "\n\n".join([header, "\n".join(body)]) if body else header

    # ------------------------------------------------------------------ decisions
    def _on_request(self, req: SlotRequest) -> list[tuple[str, SlotAnswer]]:
        s = self._state
        if req.limit > 0:
            s = s.model_copy(update={"limit": req.limit})
        held = next((h for h in s.holders if h.workflow_id == req.workflow_id), None)
        if held is not None:
            if held.run_id == req.run_id:  # a retried request: answer again, change nothing
                self._state = s
                return [(req.workflow_id, SlotAnswer(kind=SlotAnswerKind.GRANTED))]
            # A new run of the same polecat (re-slung): the old run's slot is its to take.
            s = s.model_copy(
                update={"holders": [h for h in s.holders if h.workflow_id != req.workflow_id]}
            )
        waiting = [w for w in s.waiting if w.workflow_id != req.workflow_id]
        queued_before = len(waiting) != len(s.waiting)
        if not req.allow_same_bead:
            others: list[SlotHolder | SlotRequest] = [*s.holders, *waiting]
            other = next(
                (
                    o.polecat
                    for o in others
                    if o.bead_id == req.bead_id and o.workflow_id != req.workflow_id
                ),
                None,
            )
            if other is not None:
                self._state = s.model_copy(update={"waiting": waiting})
                return [
                    (
                        req.workflow_id,
                        SlotAnswer(
                            kind=SlotAnswerKind.REFUSED,
                            reason=c.BEAD_ALREADY_WORKED,
                            message=f"bead {req.bead_id} is already being worked on by polecat "
                            f"{other}; sling with --force to work it again",
                        ),
                    )
                ]
        # Keep a retried request's place in the line.
        position = next(
            (i for i, w in enumerate(s.waiting) if w.workflow_id == req.workflow_id), None
        )
        if queued_before and position is not None:
            waiting.insert(position, req)
        else:
            waiting.append(req)
        self._state = s.model_copy(update={"waiting": waiting})
        return []

    def _drop(self, workflow_id: str, run_id: str | None) -> None:
        s = self._state
        self._state = s.model_copy(
            update={
                "holders": [
                    h
                    for h in s.holders
                    if not (h.workflow_id == workflow_id and run_id in (None, h.run_id))
                ],
                "waiting": [
                    w
                    for w in s.waiting
                    if not (w.workflow_id == workflow_id and run_id in (None, w.run_id))
                ],
            }
        )

    def _grant(self) -> list[tuple[str, SlotAnswer]]:
        """Grant in arrival order while slots are free."""
        s = self._state
        holders, waiting = list(s.holders), list(s.waiting)
        answers: list[tuple[str, SlotAnswer]] = []
        while waiting and len(holders) < max(s.limit, 1):
            req = waiting.pop(0)
            holders.append(
                SlotHolder(
                    workflow_id=req.workflow_id,
                    run_id=req.run_id,
                    polecat=req.polecat,
                    bead_id=req.bead_id,
                )
            )
            answers.append((req.workflow_id, SlotAnswer(kind=SlotAnswerKind.GRANTED)))
        self._state = s.model_copy(update={"holders": holders, "waiting": waiting})
        return answers

    def _queued(self, asked: set[str]) -> list[tuple[str, SlotAnswer]]:
        """Tell the requests of this round that still wait where they stand. Only them: a
        position update to every waiter on every release would cost each queued polecat a
        signal per slot that frees ahead of it."""
        s = self._state
        return [
            (
                req.workflow_id,
                SlotAnswer(
                    kind=SlotAnswerKind.QUEUED,
                    reason="RigAtLimit",
                    message=f"rig {s.rig} is at its limit of {s.limit} active polecats; "
                    f"position {i} in its queue",
                    position=i,
                ),
            )
            for i, req in enumerate(s.waiting, start=1)
            if req.workflow_id in asked
        ]

    # ------------------------------------------------------------------ effects
    async def _send(self, answers: list[tuple[str, SlotAnswer]]) -> None:
        """Signal each answer; a requester that is gone gives its place back."""
        if not answers:
            return
        results = await asyncio.gather(
            *(
                workflow.get_external_workflow_handle(wid).signal(c.SIGNAL_SLOT_ANSWER, answer)
                for wid, answer in answers
            ),
            return_exceptions=True,
        )
        gone = {
            wid
            for (wid, _), result in zip(answers, results, strict=True)
            if isinstance(result, FailureError)
        }
        if gone:
            for wid in gone:
                self._drop(wid, None)
            await self._send(self._grant())

    async def _audit(self) -> None:
        holders = [h.workflow_id for h in self._state.holders]
        if not holders:
            return
        closed: list[str] = await workflow.execute_activity(
            c.CLOSED_WORKFLOWS,
            holders,
            result_type=list[str],
            start_to_close_timeout=c.API_TIMEOUT,
            retry_policy=c.API_RETRY,
        )
        for wid in closed:
            self._drop(wid, None)
