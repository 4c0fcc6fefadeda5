"""Activity test doubles for the workflow tests, registered by the names in contract.py.

The workflows find their activities by name, so a worker that registers these instead of
gastown.activities runs the real workflow code against a script: what resolution returns or
raises, whether the credential check or the pod launch fails, and what each attempt's wait
says. Every call is recorded (name, argument, which workflow asked, local or not, when) so a
test asserts what the workflow *asked for* — pods per attempt, deletions, status writes with
their phases, reasons and Events — not how an activity would have carried it out.

This module is the ONE place that knows the shape of the workflow's input and the signature of
each activity. When an input or a step changes, adapt `polecat_input`, `START` and the doubles
below; the tests use only these. The rig's slots are not a double: `request_slot` and
`closed_workflows` are the real activities (they only talk to Temporal), recorded on the way,
and the real RigSlotsWorkflow answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from gastown.activities import slots
from gastown.api.identity import pod_name, polecat_workflow_id
from gastown.api.polecat import Outcome
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    AttemptResult,
    CredentialReport,
    DeletePod,
    EnsureRequest,
    LaunchRequest,
    PodRef,
    PolecatInput,
    PolecatRef,
    Resolved,
    SlotRelease,
    SlotRequest,
    StatusUpdate,
    Verdict,
    WaitRequest,
)

NAMESPACE: Final = "wftests"
RIG: Final = "demo-rig"
BEAD: Final = "dm-0001"
BRANCH: Final = f"feature/{BEAD}"
COMMIT: Final = "0123456789abcdef0123456789abcdef01234567"
PR_URL: Final = "https://github.com/org/repo/pull/7"
DEADLINE: Final = 10.0  # seconds any wait of a test may take before it fails

# What the polecat workflow asks for before its first pod, in order.
START: Final = (c.RESOLVE_POLECAT, c.CHECK_CREDENTIALS, c.ENSURE_POLECAT, c.REQUEST_SLOT)
# ... and after its last: the final status write, then the rig's slot given back.
FINISH: Final = (c.UPDATE_STATUS, c.RELEASE_SLOT)
POLECAT: Final = "PolecatWorkflow"
REAPER: Final = "PodReaperWorkflow"
HEARTBEAT_EVERY: Final = 0.05  # a held wait heartbeats this often, so a cancel reaches it


# ---------------------------------------------------------------- inputs and results
def polecat_input(name: str) -> PolecatInput:
    """Start the polecat called `name`: its identity (the CR holds the spec)."""
    return PolecatInput(namespace=NAMESPACE, name=name, uid=f"uid-{name}")


def resolved(name: str, **changes: Any) -> Resolved:
    """What resolve_polecat returns for `name`: a polecat of RIG on BEAD, three attempts."""
    fields: dict[str, Any] = {
        "namespace": NAMESPACE,
        "name": name,
        "uid": f"uid-{name}",
        "rig": RIG,
        "bead_id": BEAD,
        "repo_url": "git@github.com:org/repo.git",
        "base_branch": "main",
        "work_branch": BRANCH,
        "image": "example.org/polecat:1",
        "agent": "claude",
        "git_secret": "git-creds",
        "claude_creds_secret": "claude-creds",
        "active_deadline_seconds": 900,
        "pending_timeout_seconds": 300,
        "image_pull_grace_seconds": 60,
        "max_attempts": 3,
        "backoff_seconds": 30,
        "succeeded_pod_ttl_seconds": 600,
        "failed_pod_ttl_seconds": 86400,
    }
    return Resolved.model_validate({**fields, **changes})


def finished(outcome: Outcome, message: str = "") -> AttemptResult:
    """The pod ran to the end and the runtime reported `outcome`."""
    done = outcome in (Outcome.COMPLETED, Outcome.NO_CHANGES)
    return AttemptResult(
        verdict=Verdict.FINISHED,
        reason="Completed" if done else "Error",
        message=message,
        exit_code=0 if done else 1,
        outcome=outcome,
        branch=BRANCH,
        head_commit=COMMIT if outcome == Outcome.COMPLETED else None,
        pull_request_url=PR_URL if outcome == Outcome.COMPLETED else None,
    )


def transient(reason: str = "Evicted", message: str = "node ran out of memory") -> AttemptResult:
    return AttemptResult(verdict=Verdict.TRANSIENT, reason=reason, message=message)


def terminal(reason: str = "InvalidImageName", message: str = "bad image ref") -> AttemptResult:
    return AttemptResult(verdict=Verdict.TERMINAL, reason=reason, message=message)


def permanent(kind: str, message: str) -> ApplicationError:
    """A failure as the real activities raise it (see activities/errors.py)."""
    return ApplicationError(message, type=kind, non_retryable=True)


# ---------------------------------------------------------------- the script
class Hold:
    """A step that lasts until the test releases it (with its result) or the workflow cancels
    it: a pod that is still running."""

    def __init__(self) -> None:
        self._released = asyncio.Event()
        self._result: AttemptResult | None = None

    def release(self, result: AttemptResult | None = None) -> None:
        self._result = result
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    async def held(self) -> AttemptResult | None:
        """Wait, heartbeating, until released; CancelledError when the workflow cancels."""
        local = activity.info().is_local
        while not self._released.is_set():
            if not local:
                activity.heartbeat()
            try:
                await asyncio.wait_for(self._released.wait(), HEARTBEAT_EVERY)
            except TimeoutError:
                continue
        return self._result


@dataclass
class Script:
    """What the activities do in one test."""

    resolved: Resolved
    waits: Sequence[AttemptResult | Hold] = ()  # one per attempt, by attempt number
    resolve_error: ApplicationError | None = None
    credentials_error: ApplicationError | None = None
    launch_error: ApplicationError | None = None
    ensure: Hold | None = None  # holds the creation of the CR
    final_status: Hold | None = None  # holds the status write that finishes the polecat
    # More polecats in the same test (a rig's slots): name -> (what resolves, its waits).
    others: dict[str, tuple[Resolved, Sequence[AttemptResult | Hold]]] = field(default_factory=dict)

    def of(self, name: str) -> tuple[Resolved, Sequence[AttemptResult | Hold]]:
        return self.others.get(name, (self.resolved, self.waits))

    def release_all(self) -> None:
        """Let every held step go (a test that failed halfway must not hold up the worker's
        shutdown)."""
        more = [step for _, waits in self.others.values() for step in waits]
        for step in [*self.waits, *more, self.ensure, self.final_status]:
            if isinstance(step, Hold) and not step.released:
                step.release()


@dataclass(frozen=True)
class Call:
    name: str
    arg: Any
    workflow_type: str
    local: bool
    scheduled: datetime | None  # the server's (skipped) clock for regular activities
    workflow_id: str = ""


@dataclass
class Doubles:
    """The activities a test's worker registers, playing `script` and recording each call."""

    script: Script
    calls: list[Call] = field(default_factory=list)
    cancelled_waits: list[int] = field(default_factory=list)  # attempts whose wait was cancelled
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.resolve_polecat,
            self.check_credentials,
            self.ensure_polecat,
            self.launch_pod,
            self.wait_pod,
            self.update_polecat_status,
            self.delete_pod,
            self.request_slot,
            self.release_slot,
            self.closed_workflows,
        ]

    # ------------------------------------------------------------ what tests read
    def names(self, workflow: str = POLECAT, polecat: str | None = None) -> list[str]:
        return [
            call.name
            for call in self.calls
            if call.workflow_type == workflow
            and (polecat is None or call.workflow_id == polecat_workflow_id(NAMESPACE, polecat))
        ]

    def args(self, name: str, workflow: str = POLECAT) -> list[Any]:
        return [x.arg for x in self.calls if x.name == name and x.workflow_type == workflow]

    def statuses(self) -> list[StatusUpdate]:
        return list(self.args(c.UPDATE_STATUS))

    async def until(self, what: Callable[[], bool], timeout: float = DEADLINE) -> None:
        """Wait until the recorded calls satisfy `what`; fail after `timeout` seconds."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(what), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"condition not met in {timeout}s; calls so far: {self.names()}"
                ) from None

    async def _record(self, name: str, arg: Any) -> None:
        info = activity.info()
        scheduled = None if info.is_local else info.current_attempt_scheduled_time
        async with self._changed:
            self.calls.append(
                Call(
                    name,
                    arg,
                    info.workflow_type or "",
                    info.is_local,
                    scheduled,
                    info.workflow_id or "",
                )
            )
            self._changed.notify_all()

    # ------------------------------------------------------------ the activities
    @activity.defn(name=c.RESOLVE_POLECAT)
    async def resolve_polecat(self, inp: PolecatInput) -> Resolved:
        await self._record(c.RESOLVE_POLECAT, inp)
        if self.script.resolve_error:
            raise self.script.resolve_error
        return self.script.of(inp.name)[0]

    @activity.defn(name=c.CHECK_CREDENTIALS)
    async def check_credentials(self, r: Resolved) -> CredentialReport:
        await self._record(c.CHECK_CREDENTIALS, r)
        if self.script.credentials_error:
            raise self.script.credentials_error
        return CredentialReport(kind="oauth")

    @activity.defn(name=c.ENSURE_POLECAT)
    async def ensure_polecat(self, req: EnsureRequest) -> PolecatRef:
        await self._record(c.ENSURE_POLECAT, req)
        if self.script.ensure:
            await self.script.ensure.held()
        return PolecatRef(namespace=req.resolved.namespace, name=req.resolved.name, uid="cr-uid")

    @activity.defn(name=c.LAUNCH_POD)
    async def launch_pod(self, req: LaunchRequest) -> PodRef:
        await self._record(c.LAUNCH_POD, req)
        if self.script.launch_error:
            raise self.script.launch_error
        return PodRef(
            namespace=req.resolved.namespace,
            name=pod_name(req.resolved.name, req.attempt),
            uid=f"pod-uid-{req.attempt}",
            attempt=req.attempt,
        )

    @activity.defn(name=c.WAIT_POD)
    async def wait_pod(self, req: WaitRequest) -> AttemptResult:
        await self._record(c.WAIT_POD, req)
        step = self.script.of(req.polecat)[1][req.pod.attempt - 1]
        if isinstance(step, AttemptResult):
            return step
        try:
            result = await step.held()
        except asyncio.CancelledError:
            async with self._changed:
                self.cancelled_waits.append(req.pod.attempt)
                self._changed.notify_all()
            raise
        assert result is not None, "a held wait was released without a verdict"
        return result

    @activity.defn(name=c.UPDATE_STATUS)
    async def update_polecat_status(self, update: StatusUpdate) -> None:
        await self._record(c.UPDATE_STATUS, update)
        if update.finished and self.script.final_status:
            await self.script.final_status.held()

    @activity.defn(name=c.DELETE_POD)
    async def delete_pod(self, req: DeletePod) -> bool:
        await self._record(c.DELETE_POD, req)
        return True

    @activity.defn(name=c.REQUEST_SLOT)
    async def request_slot(self, req: SlotRequest) -> None:
        await self._record(c.REQUEST_SLOT, req)
        await slots.request_slot(req)

    @activity.defn(name=c.RELEASE_SLOT)
    async def release_slot(self, release: SlotRelease) -> None:
        await self._record(c.RELEASE_SLOT, release)
        await slots.release_slot(release)

    @activity.defn(name=c.CLOSED_WORKFLOWS)
    async def closed_workflows(self, workflow_ids: list[str]) -> list[str]:
        await self._record(c.CLOSED_WORKFLOWS, workflow_ids)
        return await slots.closed_workflows(workflow_ids)
