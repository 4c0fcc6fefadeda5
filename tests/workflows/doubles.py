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
and the real RigSlotsWorkflow answers. Likewise a convoy's `nuke_polecats` and
`polecat_reports` are the real ones; its Kubernetes calls are doubles, and its polecats are
either the real PolecatWorkflow (scripted by name, as above) or the stand-in of
fakepolecat.py, whose outcome per bead `fake_polecat_run` plays from `Script.runs`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from gastown.activities import convoys, slots
from gastown.api.identity import convoy_polecat_name, pod_name, polecat_workflow_id
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    AttemptResult,
    ConvoyInput,
    ConvoyNotice,
    ConvoyStatusUpdate,
    CredentialReport,
    CredentialsAsk,
    DeletePod,
    DispatchRequest,
    EnsureRequest,
    LaunchRequest,
    NukePolecats,
    PodDeletion,
    PodRef,
    PolecatInput,
    PolecatRef,
    PolecatReport,
    Resolved,
    ResolvedConvoy,
    SlotRelease,
    SlotRequest,
    StatusUpdate,
    TokenGrant,
    TokenGrantKind,
    TokenRequest,
    Verdict,
    WaitRequest,
)
from tests.workflows.fakepolecat import FAKE_RUN, FakeOutcome

NAMESPACE: Final = "wftests"
RIG: Final = "demo-rig"
BEAD: Final = "dm-0001"
BRANCH: Final = f"feature/{BEAD}"
COMMIT: Final = "0123456789abcdef0123456789abcdef01234567"
PR_URL: Final = "https://github.com/org/repo/pull/7"
DEADLINE: Final = 10.0  # seconds any wait of a test may take before it fails

# What the polecat workflow asks for before its first pod, in order (the credentials gate
# after the claim, before the slot).
START: Final = (
    c.RESOLVE_POLECAT,
    c.CHECK_CREDENTIALS,
    c.ENSURE_POLECAT,
    c.ISSUE_POD_TOKEN,
    c.REQUEST_SLOT,
)
# ... for each pod: the launch (the gate's grant still valid for a whole pod: no second look).
LAUNCH: Final = (c.LAUNCH_POD,)
# ... the gate again first when the grant would not last (or its token was refused).
GATED_LAUNCH: Final = (c.ISSUE_POD_TOKEN, c.LAUNCH_POD)
# ... and after its last: the final status write, the rig's slot given back, the polecat's
# own Secret deleted.
FINISH: Final = (c.UPDATE_STATUS, c.RELEASE_SLOT, c.REVOKE_POD_TOKEN)
# ... then, when a pod is left for its logs, when the watcher may delete it.
LEAVE_POD: Final = (c.SCHEDULE_POD_DELETION,)
POLECAT: Final = "PolecatWorkflow"
CONVOY: Final = "ConvoyWorkflow"
COST: Final = 0.42  # the agent's cost in a finished attempt's result
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
        agent_cost_usd=COST,
    )


def transient(reason: str = "Evicted", message: str = "node ran out of memory") -> AttemptResult:
    return AttemptResult(verdict=Verdict.TRANSIENT, reason=reason, message=message)


def terminal(reason: str = "InvalidImageName", message: str = "bad image ref") -> AttemptResult:
    return AttemptResult(verdict=Verdict.TERMINAL, reason=reason, message=message)


CREDS: Final = "claude-creds"  # resolved()'s claude_creds_secret


def ready(version: str = "1") -> TokenGrant:
    """issue_pod_token wrote the polecat's own Secret from the credentials at `version`."""
    return TokenGrant(
        kind=TokenGrantKind.READY, secret=CREDS, version=version, credential_kind="session"
    )


def park(version: str = "1", reason: str = c.CREDENTIALS_EXPIRED) -> TokenGrant:
    """Nothing fresh at `version` (a replica's session expired)."""
    return TokenGrant(
        kind=TokenGrantKind.PARK,
        secret=CREDS,
        version=version,
        credential_kind="session",
        reason=reason,
        message=f"the Claude session in Secret {CREDS!r} expired: run `claude /login` on "
        "your machine, then `kubectl gt auth sync --force`",
    )


def refresh(version: str = "1") -> TokenGrant:
    """Keeper mode, too close to expiry at `version`: ask the keeper."""
    return TokenGrant(
        kind=TokenGrantKind.REFRESH, secret=CREDS, version=version, credential_kind="session"
    )


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


def convoy_input(name: str, **changes: Any) -> ConvoyInput:
    """Start the convoy called `name`: its identity (the CR holds the beads)."""
    return ConvoyInput(namespace=NAMESPACE, name=name, uid=f"uid-{name}", **changes)


def resolved_convoy(name: str, beads: Sequence[str], **changes: Any) -> ResolvedConvoy:
    """What resolve_convoy returns for `name`: these beads for RIG, its limit 8."""
    fields: dict[str, Any] = {
        "namespace": NAMESPACE,
        "name": name,
        "uid": f"uid-{name}",
        "description": f"convoy {name}",
        "rig": RIG,
        "beads": list(beads),
        "parallelism": 0,
        "max_polecats": 8,
    }
    return ResolvedConvoy.model_validate({**fields, **changes})


@dataclass(frozen=True)
class Run:
    """How one (stand-in) polecat of a convoy ends."""

    phase: PolecatPhase = PolecatPhase.DONE
    cost: float | None = None
    hold: Hold | None = None  # runs until the test releases it (or a nuke cancels it)
    silent: bool = False  # closes without its last report


@dataclass
class Script:
    """What the activities do in one test."""

    resolved: Resolved
    waits: Sequence[AttemptResult | Hold] = ()  # one per attempt, by attempt number
    resolve_error: ApplicationError | None = None
    credentials_error: ApplicationError | None = None
    launch_error: ApplicationError | None = None
    ensure: Hold | None = None  # holds the creation of the CR
    # What issue_pod_token answers, look by look: the first is taken off each time while more
    # than one is left, the last repeats. A test may replace it while the polecat waits.
    grants: list[TokenGrant] = field(default_factory=lambda: [ready()])
    # What ask_credentials does besides recording (a stand-in credentials workflow's answer).
    on_ask: Callable[[CredentialsAsk], Awaitable[None]] | None = None
    final_status: Hold | None = None  # holds the status write that finishes the polecat
    # More polecats in the same test (a rig's slots): name -> (what resolves, its waits).
    others: dict[str, tuple[Resolved, Sequence[AttemptResult | Hold]]] = field(default_factory=dict)
    # A convoy: what resolve_convoy returns (or raises), each bead's polecats (one Run per
    # polecat dispatched for it; a bead not named here is Done at once), and whether the
    # Convoy is found deleted when its status is written.
    convoy: ResolvedConvoy | None = None
    convoy_error: ApplicationError | None = None
    runs: dict[str, Sequence[Run]] = field(default_factory=dict)
    convoy_gone: bool = False

    def of(self, name: str) -> tuple[Resolved, Sequence[AttemptResult | Hold]]:
        return self.others.get(name, (self.resolved, self.waits))

    def release_all(self) -> None:
        """Let every held step go (a test that failed halfway must not hold up the worker's
        shutdown)."""
        more = [step for _, waits in self.others.values() for step in waits]
        held = [run.hold for runs in self.runs.values() for run in runs]
        for step in [*self.waits, *more, *held, self.ensure, self.final_status]:
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
    # A convoy's polecats: name -> (bead, retry) as dispatched; how many stand-ins run at
    # once now, and at most.
    dispatched: dict[str, tuple[str, int]] = field(default_factory=dict)
    running: int = 0
    max_running: int = 0
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
            self.schedule_pod_deletion,
            self.issue_pod_token,
            self.ask_credentials,
            self.revoke_pod_token,
            self.resolve_convoy,
            self.dispatch_polecat,
            self.update_convoy_status,
            self.notify_convoy,
            self.nuke_polecats,
            self.polecat_reports,
            self.fake_polecat_run,
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

    @activity.defn(name=c.SCHEDULE_POD_DELETION)
    async def schedule_pod_deletion(self, req: PodDeletion) -> bool:
        await self._record(c.SCHEDULE_POD_DELETION, req)
        return True

    @activity.defn(name=c.ISSUE_POD_TOKEN)
    async def issue_pod_token(self, req: TokenRequest) -> TokenGrant:
        await self._record(c.ISSUE_POD_TOKEN, req)
        grants = self.script.grants
        return grants.pop(0) if len(grants) > 1 else grants[0]

    @activity.defn(name=c.ASK_CREDENTIALS)
    async def ask_credentials(self, ask: CredentialsAsk) -> None:
        await self._record(c.ASK_CREDENTIALS, ask)
        if self.script.on_ask is not None:
            await self.script.on_ask(ask)

    @activity.defn(name=c.REVOKE_POD_TOKEN)
    async def revoke_pod_token(self, ref: PolecatRef) -> bool:
        await self._record(c.REVOKE_POD_TOKEN, ref)
        return True

    # ------------------------------------------------------------ a convoy's
    @activity.defn(name=c.RESOLVE_CONVOY)
    async def resolve_convoy(self, inp: ConvoyInput) -> ResolvedConvoy:
        await self._record(c.RESOLVE_CONVOY, inp)
        if self.script.convoy_error:
            raise self.script.convoy_error
        assert self.script.convoy is not None, "a convoy test scripts Script.convoy"
        return self.script.convoy

    @activity.defn(name=c.DISPATCH_POLECAT)
    async def dispatch_polecat(self, req: DispatchRequest) -> PolecatInput:
        await self._record(c.DISPATCH_POLECAT, req)
        name = convoy_polecat_name(req.convoy, req.bead_id, req.retry)
        self.dispatched[name] = (req.bead_id, req.retry)
        return PolecatInput(namespace=req.namespace, name=name, uid=f"uid-{name}")

    @activity.defn(name=c.UPDATE_CONVOY_STATUS)
    async def update_convoy_status(self, update: ConvoyStatusUpdate) -> None:
        await self._record(c.UPDATE_CONVOY_STATUS, update)
        if self.script.convoy_gone:
            raise permanent(c.CONVOY_GONE, f"convoy {update.namespace}/{update.name} was deleted")

    @activity.defn(name=c.NOTIFY_CONVOY)
    async def notify_convoy(self, notice: ConvoyNotice) -> bool:
        await self._record(c.NOTIFY_CONVOY, notice)
        return False

    @activity.defn(name=c.NUKE_POLECATS)
    async def nuke_polecats(self, req: NukePolecats) -> list[str]:
        await self._record(c.NUKE_POLECATS, req)
        return await convoys.nuke_polecats(req)

    @activity.defn(name=c.POLECAT_REPORTS)
    async def polecat_reports(self, workflow_ids: list[str]) -> list[PolecatReport]:
        await self._record(c.POLECAT_REPORTS, workflow_ids)
        return await convoys.polecat_reports(workflow_ids)

    @activity.defn(name=FAKE_RUN)
    async def fake_polecat_run(self, inp: PolecatInput) -> FakeOutcome:
        """A stand-in polecat at work: its bead's script, counted while it runs."""
        await self._record(FAKE_RUN, inp)
        bead, retry = self.dispatched[inp.name]
        runs = self.script.runs.get(bead) or [Run()]
        run = runs[retry]
        async with self._changed:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self._changed.notify_all()
        try:
            if run.hold is not None:
                await run.hold.held()
        finally:
            async with self._changed:
                self.running -= 1
                self._changed.notify_all()
        return FakeOutcome(bead_id=bead, phase=run.phase, cost_usd=run.cost, silent=run.silent)
