"""request_slot and closed_workflows: the Temporal side of a rig's slots.

A polecat's workflow cannot send another workflow an Update, so asking for a slot is an
activity: start the rig's RigSlotsWorkflow if it is not running (one per rig, by workflow ID),
then its `acquire` Update, whose result is the answer. Repeating it is harmless: the slots
workflow answers a request it already has again, the same way.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from gastown.api.identity import rig_slots_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.messages import SlotAnswer, SlotRelease, SlotRequest, SlotsState
from gastown.workflows.rigslots import RigSlotsWorkflow


@activity.defn(name=c.REQUEST_SLOT)
async def request_slot(req: SlotRequest) -> SlotAnswer:
    """Ask the rig's slots workflow (starting it if it is not running) for a slot."""
    client = activity.client()
    wid = rig_slots_workflow_id(req.rig, activity.info().task_queue)
    for _ in range(3):
        handle = await client.start_workflow(
            RigSlotsWorkflow.run,
            SlotsState(rig=req.rig, limit=req.limit),
            id=wid,
            task_queue=activity.info().task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        try:
            answer: SlotAnswer = await handle.execute_update(
                c.UPDATE_ACQUIRE, req, result_type=SlotAnswer
            )
        except RPCError as exc:
            # It completed (idle) between the start and the Update: start it again.
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        return answer
    raise ApplicationError(f"the slots workflow {wid} kept closing; retrying")


@activity.defn(name=c.RELEASE_SLOT)
async def release_slot(release: SlotRelease) -> None:
    """Give a slot back. A slots workflow that is not running holds nothing to give back."""
    wid = rig_slots_workflow_id(release.rig, activity.info().task_queue)
    handle = activity.client().get_workflow_handle(wid)
    try:
        await handle.signal(c.SIGNAL_RELEASE, release)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


@activity.defn(name=c.CLOSED_WORKFLOWS)
async def closed_workflows(workflow_ids: list[str]) -> list[str]:
    """The IDs among these whose newest run is not running (or that never existed)."""
    client = activity.client()
    closed = []
    for wid in workflow_ids:
        try:
            desc = await client.get_workflow_handle(wid).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            closed.append(wid)
            continue
        if desc.status != WorkflowExecutionStatus.RUNNING:
            closed.append(wid)
    return closed
