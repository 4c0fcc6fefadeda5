"""request_slot and closed_workflows: the Temporal side of a rig's slots.

A polecat's workflow cannot start another workflow and signal it in one step, so asking for a
slot is an activity: a signal-with-start of the rig's RigSlotsWorkflow (one per rig, by
workflow ID), which starts it if it is not running and queues the request either way.
Repeating it is harmless: the slots workflow answers a request it already has again.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from gastown.api.identity import rig_slots_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.messages import SlotRequest, SlotsState
from gastown.workflows.rigslots import RigSlotsWorkflow


@activity.defn(name=c.REQUEST_SLOT)
async def request_slot(req: SlotRequest) -> None:
    info = activity.info()
    await activity.client().start_workflow(
        RigSlotsWorkflow.run,
        SlotsState(rig=req.rig, limit=req.limit),
        id=rig_slots_workflow_id(req.rig),
        task_queue=info.task_queue,
        start_signal=c.SIGNAL_ACQUIRE,
        start_signal_args=[req],
    )


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
