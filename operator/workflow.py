"""The Temporal calls the watcher and `kubectl gt` share: start a polecat's workflow, nuke
it, look at it (Workflows); start a convoy's, ask its progress, add beads, cancel it
(ConvoyWorkflows).

Every call derives the workflow ID from (namespace, name), exactly as `kubectl gt sling` and
`kubectl gt convoy create` do, so the watcher and the CLI can never start two workflows for
one polecat or convoy: a start with USE_EXISTING joins a running one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

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
    CancelConvoy,
    ConvoyInput,
    ConvoyProgress,
    NukeRequest,
    PolecatInput,
    PolecatState,
)

T = TypeVar("T")

# A nuke returns once the pod is deleted and the status written: seconds. Past this, the work
# queue retries (a worker may be down), rather than holding the polecat's queue forever.
NUKE_TIMEOUT_SECONDS = 120
# Temporal keeps a workflow's static summary short (one line in the UI's list).
SUMMARY_MAX = 200


async def _describe(client: Client, wid: str) -> WorkflowExecutionDescription | None:
    """The newest run with this workflow ID, or None if there never was one."""
    try:
        desc: WorkflowExecutionDescription = await client.get_workflow_handle(wid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return desc


async def _start(
    client: Client,
    task_queue: str,
    workflow: str,
    inp: Any,
    wid: str,
    created: datetime,
    *,
    rerun: bool = False,
    summary: str | None = None,
    details: str | None = None,
) -> str:
    """Start the object's workflow unless it already has one; its run ID.

    A closed run with the same ID belongs to this object if it started after the object was
    created (nothing starts one before the CR exists); one that started earlier belonged to a
    deleted object of the same name, and a new run is right. `rerun` starts a new run after
    this object's own finished one (a re-sling).
    """

    async def start(reuse: WorkflowIDReusePolicy) -> str:
        handle = await client.start_workflow(
            workflow,
            inp,
            id=wid,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse,
            static_summary=summary,
            static_details=details,
        )
        return str(handle.result_run_id or handle.run_id)

    if not rerun:
        try:
            return await start(WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass
        desc = await _describe(client, wid)
        if desc is not None and desc.start_time >= created:
            return str(desc.run_id)  # this object's own run, finished already
    return await start(WorkflowIDReusePolicy.ALLOW_DUPLICATE)


async def _retry_racing_task(call: Callable[[], Awaitable[T]]) -> T:
    """An update, retried while the server answers "unexpected workflow task failure": an
    update that raced a signal's workflow task; the workflow is fine and the next task
    succeeds (see cli/polecat.py)."""
    for attempt in range(5):
        try:
            return await call()
        except RPCError as exc:
            if "workflow task failure" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class Workflows:
    client: Client
    task_queue: str

    def handle(self, namespace: str, name: str) -> Any:
        return self.client.get_workflow_handle(polecat_workflow_id(namespace, name))

    async def describe(self, namespace: str, name: str) -> WorkflowExecutionDescription | None:
        """The newest run with this polecat's workflow ID, or None if there never was one."""
        return await _describe(self.client, polecat_workflow_id(namespace, name))

    async def running(self, namespace: str, name: str) -> bool:
        desc = await self.describe(namespace, name)
        return desc is not None and desc.status == WorkflowExecutionStatus.RUNNING

    async def start(
        self, namespace: str, name: str, uid: str, created: datetime, *, rerun: bool = False
    ) -> str:
        """Start the polecat's workflow unless this polecat already has one; its run ID (see
        `_start` for which closed run counts as its own)."""
        inp = PolecatInput(namespace=namespace, name=name, uid=uid)
        wid = polecat_workflow_id(namespace, name)
        return await _start(
            self.client, self.task_queue, c.POLECAT_WORKFLOW, inp, wid, created, rerun=rerun
        )

    async def nuke(self, namespace: str, name: str, reason: str) -> PolecatState | None:
        """Ask the workflow to terminate its polecat and wait until it has (pod deleted, status
        written). None when there is no running workflow to ask."""
        handle = self.handle(namespace, name)

        async def call() -> PolecatState:
            async with asyncio.timeout(NUKE_TIMEOUT_SECONDS):
                state: PolecatState = await handle.execute_update(
                    c.UPDATE_NUKE, NukeRequest(reason=reason), result_type=PolecatState
                )
            return state

        try:
            return await _retry_racing_task(call)
        except WorkflowUpdateFailedError:
            return None  # the validator refused: it finished already
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise


def convoy_summary(description: str, rig: str, beads: int, parallelism: int) -> tuple[str, str]:
    """The convoy's static summary (one line) and details (markdown), set once at start so
    the Temporal UI says what the convoy is before its first status; the same text whether
    the CLI or the watcher started it."""
    line = " ".join(description.split())
    summary = f"Convoy: {line}"
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1] + "…"
    window = str(parallelism) if parallelism else "the rig's maxPolecats"
    details = f"**{line}**\n\n- rig: `{rig}`\n- beads: {beads}\n- parallelism: {window}\n"
    return summary, details


@dataclass
class ConvoyWorkflows:
    """A convoy's workflow: its input is the Convoy's identity only; the workflow reads the
    beads from the CR, so whoever starts it must have created (or adopted) the CR first."""

    client: Client
    task_queue: str

    def handle(self, namespace: str, name: str) -> Any:
        return self.client.get_workflow_handle(convoy_workflow_id(namespace, name))

    async def describe(self, namespace: str, name: str) -> WorkflowExecutionDescription | None:
        return await _describe(self.client, convoy_workflow_id(namespace, name))

    async def running(self, namespace: str, name: str) -> bool:
        desc = await self.describe(namespace, name)
        return desc is not None and desc.status == WorkflowExecutionStatus.RUNNING

    async def start(
        self,
        namespace: str,
        name: str,
        uid: str,
        created: datetime,
        *,
        summary: str | None = None,
        details: str | None = None,
    ) -> str:
        """Start the convoy's workflow unless it has one; its run ID (the same rules as for a
        polecat)."""
        inp = ConvoyInput(namespace=namespace, name=name, uid=uid)
        wid = convoy_workflow_id(namespace, name)
        return await _start(
            self.client,
            self.task_queue,
            c.CONVOY_WORKFLOW,
            inp,
            wid,
            created,
            summary=summary,
            details=details,
        )

    async def progress(self, namespace: str, name: str) -> ConvoyProgress:
        """The running workflow's own view (fresher than the CR's status, written ≤2/s)."""
        answer: ConvoyProgress = await self.handle(namespace, name).query(
            c.QUERY_PROGRESS, result_type=ConvoyProgress
        )
        return answer

    async def add(
        self, namespace: str, name: str, beads: list[str], *, update_id: str | None = None
    ) -> ConvoyProgress:
        """Tell the workflow about beads already written to the CR's spec (it re-reads the CR
        and takes only beads new to it, so sending one it has is harmless). `update_id` makes
        a retried call the same Update. Raises WorkflowUpdateFailedError when its validator
        refuses (finished or stopping)."""
        handle = self.handle(namespace, name)
        answer: ConvoyProgress = await _retry_racing_task(
            lambda: handle.execute_update(
                c.UPDATE_ADD_BEADS, AddBeads(beads=beads), id=update_id, result_type=ConvoyProgress
            )
        )
        return answer

    async def cancel(
        self, namespace: str, name: str, *, nuke: bool = False, reason: str | None = None
    ) -> ConvoyProgress:
        """Stop dispatching (and with `nuke`, nuke the running polecats); its progress after."""
        request = CancelConvoy(nuke=nuke, reason=reason or CancelConvoy().reason)
        handle = self.handle(namespace, name)
        answer: ConvoyProgress = await _retry_racing_task(
            lambda: handle.execute_update(c.UPDATE_CANCEL, request, result_type=ConvoyProgress)
        )
        return answer
