"""The watcher's three Temporal calls: start a polecat's workflow, nuke it, and look at it.

Every call derives the workflow ID from (namespace, name), exactly as `kubectl gt sling` does,
so the watcher and sling can never start two workflows for one polecat: a start with
USE_EXISTING joins a running one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gastown.api.identity import polecat_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.messages import NukeRequest, PolecatInput, PolecatState

# A nuke returns once the pod is deleted and the status written: seconds. Past this, the work
# queue retries (a worker may be down), rather than holding the polecat's queue forever.
NUKE_TIMEOUT_SECONDS = 120


@dataclass
class Workflows:
    client: Client
    task_queue: str

    def handle(self, namespace: str, name: str) -> Any:
        return self.client.get_workflow_handle(polecat_workflow_id(namespace, name))

    async def describe(self, namespace: str, name: str) -> WorkflowExecutionDescription | None:
        """The newest run with this polecat's workflow ID, or None if there never was one."""
        try:
            desc: WorkflowExecutionDescription = await self.handle(namespace, name).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return desc

    async def running(self, namespace: str, name: str) -> bool:
        desc = await self.describe(namespace, name)
        return desc is not None and desc.status == WorkflowExecutionStatus.RUNNING

    async def start(
        self, namespace: str, name: str, uid: str, created: datetime, *, rerun: bool = False
    ) -> str:
        """Start the polecat's workflow unless this polecat already has one; its run ID.

        A closed run with the same ID belongs to this polecat if it started after the polecat
        was created (nothing starts one before the CR exists); one that started earlier
        belonged to a deleted polecat of the same name, and a new run is right. `rerun` starts
        a new run after this polecat's own finished one (a re-sling).
        """
        inp = PolecatInput(namespace=namespace, name=name, uid=uid)
        wid = polecat_workflow_id(namespace, name)

        async def start(reuse: WorkflowIDReusePolicy) -> str:
            handle = await self.client.start_workflow(
                c.POLECAT_WORKFLOW,
                inp,
                id=wid,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=reuse,
            )
            return str(handle.result_run_id or handle.run_id)

        if not rerun:
            try:
                return await start(WorkflowIDReusePolicy.REJECT_DUPLICATE)
            except WorkflowAlreadyStartedError:
                pass
            desc = await self.describe(namespace, name)
            if desc is not None and desc.start_time >= created:
                return str(desc.run_id)  # this polecat's own run, finished already
        return await start(WorkflowIDReusePolicy.ALLOW_DUPLICATE)

    async def nuke(self, namespace: str, name: str, reason: str) -> PolecatState | None:
        """Ask the workflow to terminate its polecat and wait until it has (pod deleted, status
        written). None when there is no running workflow to ask."""
        handle = self.handle(namespace, name)
        for attempt in range(5):
            try:
                async with asyncio.timeout(NUKE_TIMEOUT_SECONDS):
                    state: PolecatState = await handle.execute_update(
                        c.UPDATE_NUKE, NukeRequest(reason=reason), result_type=PolecatState
                    )
                return state
            except WorkflowUpdateFailedError:
                return None  # the validator refused: it finished already
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                # The server answers an update racing a signal's workflow task with this; the
                # workflow is fine and the next task succeeds (see cli/polecat.py).
                if "workflow task failure" not in str(exc) or attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        return None
