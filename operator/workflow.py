"""The watcher's Temporal calls: start a polecat's workflow, nuke it, and look at it; start a
convoy's workflow and tell it of beads added to its spec.

Every call derives the workflow ID from (namespace, name), exactly as `kubectl gt sling` and
`kubectl gt convoy create` do, so the watcher and the CLI can never start two workflows for
one object: a start with USE_EXISTING joins a running one.
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

from gastown.api.identity import convoy_workflow_id, polecat_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    AddBeads,
    ConvoyInput,
    ConvoyProgress,
    NukeRequest,
    PolecatInput,
    PolecatState,
)

# A nuke returns once the pod is deleted and the status written: seconds. Past this, the work
# queue retries (a worker may be down), rather than holding the polecat's queue forever.
NUKE_TIMEOUT_SECONDS = 120
# An add_beads Update re-reads the CR (one local activity): seconds, as for a nuke.
ADD_BEADS_TIMEOUT_SECONDS = 120


@dataclass
class Workflows:
    client: Client
    task_queue: str

    def handle(self, namespace: str, name: str) -> Any:
        return self.client.get_workflow_handle(polecat_workflow_id(namespace, name))

    async def describe(self, namespace: str, name: str) -> WorkflowExecutionDescription | None:
        """The newest run with this polecat's workflow ID, or None if there never was one."""
        return await self._describe(polecat_workflow_id(namespace, name))

    async def _describe(self, wid: str) -> WorkflowExecutionDescription | None:
        try:
            desc: WorkflowExecutionDescription = await self.client.get_workflow_handle(
                wid
            ).describe()
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
        return await self._start(c.POLECAT_WORKFLOW, inp, wid, created, rerun=rerun)

    async def start_convoy(self, namespace: str, name: str, uid: str, created: datetime) -> str:
        """Start the convoy's workflow unless this convoy already has one (the same rules as
        for a polecat); its run ID. The input is the convoy's identity only."""
        inp = ConvoyInput(namespace=namespace, name=name, uid=uid)
        wid = convoy_workflow_id(namespace, name)
        return await self._start(c.CONVOY_WORKFLOW, inp, wid, created)

    async def _start(
        self, workflow: str, inp: Any, wid: str, created: datetime, *, rerun: bool = False
    ) -> str:
        async def start(reuse: WorkflowIDReusePolicy) -> str:
            handle = await self.client.start_workflow(
                workflow,
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
            desc = await self._describe(wid)
            if desc is not None and desc.start_time >= created:
                return str(desc.run_id)  # this object's own run, finished already
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

    async def add_convoy_beads(
        self, namespace: str, name: str, beads: list[str], update_id: str
    ) -> ConvoyProgress | None:
        """Tell a running convoy of beads added to its spec (the workflow re-reads the CR and
        takes only beads new to it, so sending one it has is harmless). `update_id` makes a
        retried call the same Update within a run. None when there is no running workflow or
        it refused (finished, or stopping)."""
        handle = self.client.get_workflow_handle(convoy_workflow_id(namespace, name))
        for attempt in range(5):
            try:
                async with asyncio.timeout(ADD_BEADS_TIMEOUT_SECONDS):
                    progress: ConvoyProgress = await handle.execute_update(
                        c.UPDATE_ADD_BEADS,
                        AddBeads(beads=beads),
                        id=update_id,
                        result_type=ConvoyProgress,
                    )
                return progress
            except WorkflowUpdateFailedError:
                return None  # the validator refused: finished or stopping
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                if "workflow task failure" not in str(exc) or attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        return None
