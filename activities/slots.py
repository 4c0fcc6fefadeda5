"""request_slot and closed_workflows: the Temporal side of a rig's slots.

A polecat's workflow cannot signal-with-start another workflow, so asking for a slot is a
(local) activity: a signal-with-start of the rig's RigSlotsWorkflow (one per rig and task
queue, by workflow ID). Repeating it is harmless: the slots workflow answers a request it
already has again, the same way.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from gastown.api.identity import rig_slots_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.messages import SlotRelease, SlotRequest, SlotsState
from gastown.workflows.rigslots import RigSlotsWorkflow


@activity.defn(name=c.REQUEST_SLOT)
async def request_slot(req: SlotRequest) -> None:
    """Ask the rig's slots workflow for a slot (signal-with-start: starts it if need be). The
    answer comes back by signal; nothing here waits on the slots workflow."""
    queue = activity.info().task_queue
    await activity.client().start_workflow(
        RigSlotsWorkflow.run,
        SlotsState(rig=req.rig, limit=req.limit),
        id=rig_slots_workflow_id(req.rig, queue),
        task_queue=queue,
        start_signal=c.SIGNAL_ACQUIRE,
        start_signal_args=[req],
    )


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
