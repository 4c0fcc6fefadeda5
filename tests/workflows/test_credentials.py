"""CredentialsWorkflow on the time-skipping test server: the real workflow, its two activities
replaced by name with a scripted Secret (`ScriptedSecret`: version, mode, expiry; a refresh
moves the version on) and its waiters played by tests/workflows/credstandins.py's
CredentialsWaiter, which collects the `credentials_changed` signals it is sent.

Proved: 50 polecats asking for a refresh at once cost exactly one refresh_session and all 50
hear of it; a changed Secret wakes only the waiters that saw another version (and a waiter
that is gone costs nothing); a refused session reaches every waiter with the next step and is
not tried again; replica mode completes when nobody waits; the keeper refreshes ahead of
expiry on its own, again and again; a continue-as-new carries the waiters, a refused session
and a failed refresh's wait; a session lost after its refresh is never tried again; a
permanent error from the look leaves the workflow running; the refresh Update forces a refresh
and returns its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gastown.api.identity import credentials_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.credentials import CredentialsWorkflow
from gastown.workflows.messages import (
    CredentialsChanged,
    CredentialsInput,
    CredentialsRef,
    CredentialsState,
    CredentialsWanted,
    RefreshOrder,
    RefreshRequest,
    RefreshResult,
    SecretChanged,
    SecretLook,
)
from tests.workflows.credstandins import CredentialsWaiter, ShortRuns
from tests.workflows.harness import HISTORIES, RECORD, _without_stack_traces

pytestmark = pytest.mark.timeout(90)

NAMESPACE = "wftests"
SECRET = "claude-creds"
DEADLINE = 15.0  # seconds any wait of a test may take before it fails


def wid(name: str) -> str:
    """The waiting polecat's workflow ID."""
    return f"polecat/{NAMESPACE}/{name}"


@dataclass
class ScriptedSecret:
    """The credentials Secret as the two activities see it, and what they were asked."""

    version: int = 10
    mode: str = "keeper"
    expires_at: datetime | None = None
    lifetime: timedelta = timedelta(hours=8)  # a refresh makes it valid this long
    reject: bool = False  # the token endpoint refuses the session (invalid_grant)
    fail: str | None = None  # another non-retryable failure of the refresh, this message
    look_error: str | None = None  # secret_version fails permanently with this error type
    lost: bool = False  # the POST went through but the store failed (the session is lost)
    hold: asyncio.Event | None = None  # a refresh waits for this before answering
    refreshes: list[RefreshRequest] = field(default_factory=list)
    finished: int = 0  # refreshes that answered (or failed)
    looks: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @activity.defn(name=c.SECRET_VERSION)
    async def secret_version(self, ref: CredentialsRef) -> SecretLook:
        assert (ref.namespace, ref.secret) == (NAMESPACE, SECRET)
        await self._note(lambda: setattr(self, "looks", self.looks + 1))
        if self.look_error is not None:
            raise ApplicationError(
                "Secret wftests/claude-creds: the API server refused the read",
                type=self.look_error,
                non_retryable=True,
            )
        return SecretLook(version=str(self.version), mode=self.mode, expires_at=self.expires_at)

    @activity.defn(name=c.REFRESH_SESSION)
    async def refresh_session(self, req: RefreshRequest) -> RefreshResult:
        await self._note(lambda: self.refreshes.append(req))
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.reject:
                raise ApplicationError(
                    "Secret wftests/claude-creds: the token endpoint refused the refresh token "
                    "(invalid_grant); run `kubectl gt auth sync --handover`",
                    str(self.version),
                    type=c.REFRESH_REJECTED,
                    non_retryable=True,
                )
            if self.fail is not None:
                raise ApplicationError(self.fail, type="TokenEndpointRefused", non_retryable=True)
            if self.lost:
                raise ApplicationError(
                    "Secret wftests/claude-creds: the refreshed session could not be stored "
                    "(conflicts); ... run `kubectl gt auth sync --handover`",
                    str(self.version),
                    type=c.SESSION_LOST,
                    non_retryable=True,
                )
            if self.mode != "keeper":
                return self.result(refreshed=False)
            fresh = self.expires_at is not None and self.expires_at >= req.valid_until
            if fresh and req.rejected_version != str(self.version):
                return self.result(refreshed=False)
            self.version += 1
            self.expires_at = req.valid_until + self.lifetime
            return self.result(refreshed=True)
        finally:
            await self._note(lambda: setattr(self, "finished", self.finished + 1))

    def result(self, refreshed: bool) -> RefreshResult:
        return RefreshResult(
            refreshed=refreshed,
            version=str(self.version),
            mode=self.mode,
            expires_at=self.expires_at,
        )

    async def _note(self, change: Callable[[], object]) -> None:
        async with self._changed:
            change()
            self._changed.notify_all()

    async def until(self, what: Callable[[], bool], timeout: float = DEADLINE) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(what), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"not met in {timeout}s: {len(self.refreshes)} refreshes, {self.looks} looks"
                ) from None


@dataclass
class Room:
    env: WorkflowEnvironment
    secret: ScriptedSecret
    task_queue: str

    @property
    def handle(self) -> WorkflowHandle[CredentialsWorkflow, None]:
        return self.env.client.get_workflow_handle_for(
            CredentialsWorkflow.run, credentials_workflow_id(NAMESPACE, SECRET)
        )

    def inp(self) -> CredentialsInput:
        return CredentialsInput(namespace=NAMESPACE, secret=SECRET)

    async def waiter(
        self, name: str, wants: int = 1
    ) -> WorkflowHandle[CredentialsWaiter, list[CredentialsChanged]]:
        return await self.env.client.start_workflow(
            CredentialsWaiter.run,
            wants,
            id=f"polecat/{NAMESPACE}/{name}",
            task_queue=self.task_queue,
            execution_timeout=timedelta(days=30),
        )

    async def want(self, wanted: CredentialsWanted) -> None:
        """What ask_credentials does: signal-with-start of the Secret's workflow."""
        await self.env.client.start_workflow(
            CredentialsWorkflow.run,
            self.inp(),
            id=credentials_workflow_id(NAMESPACE, SECRET),
            task_queue=self.task_queue,
            start_signal=c.SIGNAL_CREDENTIALS_WANTED,
            start_signal_args=[wanted],
        )

    async def changed(self, version: int) -> None:
        """What the watcher does when the Secret changes."""
        await self.handle.signal(c.SIGNAL_SECRET_CHANGED, SecretChanged(version=str(version)))

    async def state(self) -> CredentialsState:
        return await self.handle.query(CredentialsWorkflow.credentials)

    async def until_state(self, what: Callable[[CredentialsState], bool]) -> CredentialsState:
        async def reached() -> CredentialsState:
            while True:
                state = await self.state()
                if what(state):
                    return state
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(reached(), DEADLINE)


async def got(
    handle: WorkflowHandle[CredentialsWaiter, list[CredentialsChanged]],
) -> list[CredentialsChanged]:
    answer: list[CredentialsChanged] = await handle.query(
        "got", result_type=list[CredentialsChanged]
    )
    return answer


async def until_got(
    handles: Sequence[WorkflowHandle[CredentialsWaiter, list[CredentialsChanged]]],
) -> list[list[CredentialsChanged]]:
    """Each waiter's signals once every one has some (queries: no time skipping)."""

    async def reached() -> list[list[CredentialsChanged]]:
        while True:
            answers = [await got(h) for h in handles]
            if all(answers):
                return answers
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(reached(), DEADLINE)


@asynccontextmanager
async def room(
    env: WorkflowEnvironment, secret: ScriptedSecret, workflows: Sequence[type] = ()
) -> AsyncIterator[Room]:
    task_queue = f"credtests-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[*(workflows or [CredentialsWorkflow]), CredentialsWaiter],
        activities=[secret.refresh_session, secret.secret_version],
    ):
        try:
            yield Room(env, secret, task_queue)
        finally:
            if secret.hold is not None:
                secret.hold.set()


async def record(handle: WorkflowHandle[CredentialsWorkflow, None], name: str) -> None:
    """With GASTOWN_RECORD_HISTORY=1, write the run's history for tests/replay."""
    if RECORD:
        history = (await handle.fetch_history()).to_json_dict()
        text = json.dumps(_without_stack_traces(history), indent=2)
        (HISTORIES / f"{name}.json").write_text(text + "\n")


async def now(env: WorkflowEnvironment) -> datetime:
    return (await env.get_current_time()).astimezone(UTC)


# ---------------------------------------------------------------- the waiting room
async def test_fifty_waiters_asking_at_once_cost_one_refresh_and_all_hear_of_it(
    workflow_env: WorkflowEnvironment,
) -> None:
    t0 = await now(workflow_env)
    secret = ScriptedSecret(version=10, expires_at=t0 + timedelta(minutes=5), hold=asyncio.Event())
    async with room(workflow_env, secret) as r:
        names = [f"cat-{i:02d}" for i in range(50)]
        waiters = await asyncio.gather(*(r.waiter(n) for n in names))
        # Each wants a token valid for its own deadline; the longest decides. The first starts
        # the workflow (the test server's signal-with-start is not atomic when two race to
        # create it), the rest arrive at once.
        await r.want(
            CredentialsWanted(
                workflow_id=wid(names[0]),
                seen_version="10",
                refresh=True,
                valid_until=t0 + timedelta(minutes=30),
            )
        )
        await asyncio.gather(
            *(
                r.want(
                    CredentialsWanted(
                        workflow_id=wid(n),
                        seen_version="10",
                        refresh=True,
                        valid_until=t0 + timedelta(minutes=30 + i),
                    )
                )
                for i, n in enumerate(names)
                if i
            )
        )
        # Every request is in (some taken in before the refresh started, the rest during it).
        await secret.until(lambda: len(secret.refreshes) == 1)
        await r.until_state(lambda s: len(s.waiting) == 50 and s.refreshing)
        assert secret.hold is not None
        secret.hold.set()
        answers = await until_got(waiters)
        assert all(a == [CredentialsChanged(version="11", refreshed=True)] for a in answers)
        state = await r.until_state(lambda s: not s.waiting)
        assert (state.version, state.mode, state.refreshing) == ("11", "keeper", False)
        assert state.last_refresh is not None
        await record(r.handle, "credentials_fifty_waiters_one_refresh")
    [request] = secret.refreshes  # exactly one, covering them all
    assert request.rejected_version is None
    assert request.valid_until >= t0 + timedelta(minutes=30)


async def test_a_changed_secret_wakes_only_the_waiters_that_saw_another_version(
    workflow_env: WorkflowEnvironment,
) -> None:
    secret = ScriptedSecret(version=5, mode="replica")
    async with room(workflow_env, secret) as r:
        a, b, late = await r.waiter("a"), await r.waiter("b"), await r.waiter("late")
        for name in ("a", "b"):
            await r.want(CredentialsWanted(workflow_id=wid(name), seen_version="5"))
        # A waiter that is gone (its workflow ended) must not stop the others being told.
        await r.want(CredentialsWanted(workflow_id=wid("gone"), seen_version="4"))
        # One that saw an older version than the Secret's is told at once (register-then-check).
        await r.want(CredentialsWanted(workflow_id=wid("late"), seen_version="4"))
        assert await until_got([late]) == [[CredentialsChanged(version="5")]]
        await r.until_state(lambda s: s.waiting == [wid("a"), wid("b")])

        # The Secret changes; b already looked again and waits on the new version.
        secret.version = 6
        await r.want(CredentialsWanted(workflow_id=wid("b"), seen_version="6"))
        await r.changed(6)
        assert await until_got([a]) == [[CredentialsChanged(version="6")]]
        state = await r.until_state(lambda s: s.waiting == [wid("b")])
        assert state.version == "6"
        assert await got(b) == []
        # A watcher event older than what the waiter saw wakes nobody: only a read of the
        # Secret decides.
        c_ = await r.waiter("c")
        await r.changed(5)
        # c, signalled after that event and stale, is told: the event has been handled.
        await r.want(CredentialsWanted(workflow_id=wid("c"), seen_version="5"))
        assert await until_got([c_]) == [[CredentialsChanged(version="6")]]
        assert (await r.state()).waiting == [wid("b")]
        assert await got(b) == []
        assert secret.refreshes == []


async def test_replica_mode_completes_when_nobody_waits(workflow_env: WorkflowEnvironment) -> None:
    secret = ScriptedSecret(version=1, mode="replica")
    async with room(workflow_env, secret) as r:
        w = await r.waiter("furiosa")
        await r.want(CredentialsWanted(workflow_id=wid("furiosa"), seen_version="1"))
        await r.until_state(lambda s: s.waiting == [wid("furiosa")])
        assert (await r.handle.describe()).status == WorkflowExecutionStatus.RUNNING
        secret.version = 2
        await r.changed(2)
        assert await asyncio.wait_for(w.result(), DEADLINE) == [CredentialsChanged(version="2")]
        await asyncio.wait_for(r.handle.result(), DEADLINE)  # completed: nobody waits
        await record(r.handle, "credentials_replica_woken")
        # The next polecat's signal-with-start begins a new run.
        await r.want(CredentialsWanted(workflow_id=wid("nux"), seen_version="2"))
        assert (await r.handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_the_backstop_wakes_waiters_when_the_watchers_signal_is_lost(
    workflow_env: WorkflowEnvironment,
) -> None:
    secret = ScriptedSecret(version=1, mode="replica")
    async with room(workflow_env, secret) as r:
        w = await r.waiter("furiosa")
        await r.want(CredentialsWanted(workflow_id=wid("furiosa"), seen_version="1"))
        await r.until_state(lambda s: bool(s.waiting))
        secret.version = 2  # ... and no secret_changed comes
        start = await now(workflow_env)
        assert await asyncio.wait_for(w.result(), DEADLINE) == [CredentialsChanged(version="2")]
        waited = await now(workflow_env) - start
        assert timedelta(minutes=4) <= waited <= timedelta(minutes=6)


# ---------------------------------------------------------------- the keeper
async def test_a_refused_session_reaches_every_waiter_with_the_next_step(
    workflow_env: WorkflowEnvironment,
) -> None:
    t0 = await now(workflow_env)
    secret = ScriptedSecret(version=10, expires_at=t0 - timedelta(minutes=1), reject=True)
    async with room(workflow_env, secret) as r:
        names = ["a", "b", "c"]
        waiters = [await r.waiter(n) for n in names]
        for n in names:
            await r.want(
                CredentialsWanted(
                    workflow_id=wid(n),
                    seen_version="10",
                    refresh=True,
                    valid_until=t0 + timedelta(hours=1),
                )
            )
        answers = await until_got(waiters)
        for [answer] in answers:
            assert (answer.version, answer.reason) == ("10", c.REFRESH_REJECTED)
            assert "kubectl gt auth sync --handover" in answer.message
            assert not answer.refreshed
        state = await r.until_state(lambda s: not s.waiting)
        assert state.rejected_version == "10"
        # A polecat asking again at the refused version is told so without another request.
        again = await r.waiter("d")
        await r.want(CredentialsWanted(workflow_id=wid("d"), seen_version="10", refresh=True))
        [[answer]] = await until_got([again])
        assert answer.reason == c.REFRESH_REJECTED
        meta = await r.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "kubectl gt auth sync --handover" in meta.current_details
        await record(r.handle, "credentials_refresh_rejected")
    assert len(secret.refreshes) == 1


async def test_a_session_lost_after_its_refresh_is_never_tried_again(
    workflow_env: WorkflowEnvironment,
) -> None:
    """SessionLost (the POST spent the refresh token, the store failed): like a refused
    session, waiters hear the handover, and the keeper never POSTs that version's token again,
    on request or on its own."""
    t0 = await now(workflow_env)
    secret = ScriptedSecret(version=4, expires_at=t0 + timedelta(minutes=5), lost=True)
    async with room(workflow_env, secret) as r:
        first, second = await r.waiter("first"), await r.waiter("second")
        await r.want(CredentialsWanted(workflow_id=wid("first"), seen_version="4", refresh=True))
        [[answer]] = await until_got([first])
        assert (answer.version, answer.reason) == ("4", c.SESSION_LOST)
        assert "kubectl gt auth sync --handover" in answer.message
        await r.until_state(lambda s: s.rejected_version == "4")
        await r.want(CredentialsWanted(workflow_id=wid("second"), seen_version="4", refresh=True))
        [[again]] = await until_got([second])
        assert again.reason == c.REFRESH_REJECTED and "auth sync --handover" in again.message
        await workflow_env.sleep(timedelta(hours=1))
        assert (await r.state()).rejected_version == "4"
    assert len(secret.refreshes) == 1


async def test_a_failed_refresh_is_reported_and_not_retried_at_once(
    workflow_env: WorkflowEnvironment,
) -> None:
    t0 = await now(workflow_env)
    secret = ScriptedSecret(
        version=7,
        expires_at=t0 + timedelta(minutes=5),
        fail="Secret wftests/claude-creds not refreshed: the token endpoint answered 401",
    )
    async with room(workflow_env, secret) as r:
        first, second = await r.waiter("first"), await r.waiter("second")
        await r.want(CredentialsWanted(workflow_id=wid("first"), seen_version="7", refresh=True))
        [[answer]] = await until_got([first])
        assert (answer.version, answer.reason) == ("7", "TokenEndpointRefused")
        assert "answered 401" in answer.message and "tries again" in answer.message
        # Moments later another polecat asks: told the same, no second request.
        await r.want(CredentialsWanted(workflow_id=wid("second"), seen_version="7", refresh=True))
        assert await until_got([second]) == [[answer]]
        assert len(secret.refreshes) == 1
        # The keeper tries again on its own after a while, and then succeeds.
        secret.fail = None
        await workflow_env.sleep(timedelta(minutes=6))
        await secret.until(lambda: secret.finished == 2)
        await r.until_state(lambda s: s.version == "8")


async def test_the_keeper_refreshes_ahead_of_expiry_on_its_own_forever(
    workflow_env: WorkflowEnvironment,
) -> None:
    t0 = await now(workflow_env)
    secret = ScriptedSecret(version=1, expires_at=t0 + timedelta(hours=1))
    async with room(workflow_env, secret) as r:
        # The watcher's signal-with-start for a keeper-mode Secret: nobody waits.
        await workflow_env.client.start_workflow(
            CredentialsWorkflow.run,
            r.inp(),
            id=credentials_workflow_id(NAMESPACE, SECRET),
            task_queue=r.task_queue,
            start_signal=c.SIGNAL_SECRET_CHANGED,
            start_signal_args=[SecretChanged(version="1")],
        )
        await r.until_state(lambda s: s.mode == "keeper")
        await workflow_env.sleep(timedelta(minutes=45))
        assert secret.refreshes == []  # not yet: 10 minutes before the expiry
        await workflow_env.sleep(timedelta(minutes=10))
        await secret.until(lambda: secret.finished == 1)
        first = secret.refreshes[0]
        assert first.valid_until > t0 + timedelta(hours=1)  # beyond the old expiry: a real one
        assert first.valid_until - (await now(workflow_env)) <= timedelta(minutes=25)
        await r.until_state(lambda s: s.version == "2")
        # The new session lives 8 hours past the request's valid_until (about 20 minutes
        # ahead): the next refresh comes 10 minutes before it ends, and not before.
        await workflow_env.sleep(timedelta(hours=8))
        assert len(secret.refreshes) == 1
        await workflow_env.sleep(timedelta(minutes=20))
        await secret.until(lambda: secret.finished == 2)
        state = await r.until_state(lambda s: s.version == "3")
        assert state.mode == "keeper" and state.waiting == []
        meta = await r.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert meta.current_details.startswith("**keeper** credentials `wftests/claude-creds`")
        assert "0 waiting" in meta.current_details
        assert (await r.handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert len(secret.refreshes) == 2


async def test_a_continue_as_new_carries_the_waiters(workflow_env: WorkflowEnvironment) -> None:
    secret = ScriptedSecret(version=1, mode="replica")
    async with room(workflow_env, secret, [ShortRuns]) as r:
        names = [f"cat-{i}" for i in range(8)]
        waiters = [await r.waiter(n) for n in names]
        first_run = None
        for n in names:
            await r.want(CredentialsWanted(workflow_id=wid(n), seen_version="1"))
            first_run = first_run or (await r.handle.describe()).run_id
        # Unchanged versions from the watcher: nobody woken, but history grows past the limit
        # (how many it takes depends on how the server batches signals into workflow tasks;
        # a signal arriving while the run continues as new makes the server refuse that, so
        # the test pauses between batches).

        async def continued() -> bool:
            while (await r.handle.describe()).run_id == first_run:  # noqa: ASYNC110 - polling
                await asyncio.sleep(0.05)
            return True

        for _ in range(10):
            for _ in range(10):
                await r.changed(1)
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(continued(), 2):
                    break
        else:
            raise AssertionError("no continue-as-new after 100 signals")
        state = await r.until_state(lambda s: len(s.waiting) == len(names))
        assert sorted(state.waiting) == sorted(f"polecat/{NAMESPACE}/{n}" for n in names)
        assert [await got(w) for w in waiters] == [[]] * len(waiters)
        secret.version = 2
        await r.changed(2)
        answers = await until_got(waiters)
        assert all(a == [CredentialsChanged(version="2")] for a in answers)


async def test_the_refresh_update_forces_a_refresh_and_returns_its_result(
    workflow_env: WorkflowEnvironment,
) -> None:
    t0 = await now(workflow_env)
    secret = ScriptedSecret(version=3, expires_at=t0 + timedelta(hours=8))
    async with room(workflow_env, secret) as r:
        parked = await r.waiter("parked")
        await r.want(CredentialsWanted(workflow_id=wid("parked"), seen_version="3"))
        await r.until_state(lambda s: s.version == "3" and bool(s.waiting))
        # Not forced, and fresh enough: nothing happens.
        checked = await r.handle.execute_update(
            CredentialsWorkflow.refresh, RefreshOrder(valid_for_seconds=3600, force=False)
        )
        assert (checked.refreshed, checked.version) == (False, "3")
        result = await r.handle.execute_update(CredentialsWorkflow.refresh, RefreshOrder())
        assert (result.refreshed, result.version, result.mode) == (True, "4", "keeper")
        assert [q.rejected_version for q in secret.refreshes] == [None, "3"]
        # The new version wakes the parked polecat.
        assert await until_got([parked]) == [[CredentialsChanged(version="4")]]
        state = await r.until_state(lambda s: not s.waiting)
        assert state.version == "4" and state.last_refresh is not None
        await record(r.handle, "credentials_refresh_update")


async def continue_as_new(r: Room, version: int) -> None:
    """Grow the run's history with unchanged versions from the watcher until it continues as
    new (ShortRuns: 40 events); pauses between batches, as a signal arriving while the run
    continues as new makes the server refuse that."""
    first_run = (await r.handle.describe()).run_id

    async def continued() -> bool:
        while (await r.handle.describe()).run_id == first_run:  # noqa: ASYNC110 - polling
            await asyncio.sleep(0.05)
        return True

    for _ in range(10):
        for _ in range(10):
            await r.changed(version)
        with contextlib.suppress(TimeoutError):
            if await asyncio.wait_for(continued(), 2):
                return
    raise AssertionError("no continue-as-new after 100 signals")


async def test_a_continue_as_new_remembers_the_refused_session(
    workflow_env: WorkflowEnvironment,
) -> None:
    """A keeper whose session was refused continues as new: the new run does not POST the
    dead refresh token again (not on its own, not for a waiter), and waiters asking for a
    refresh at the refused version hear the rejection."""
    t0 = await now(workflow_env)
    secret = ScriptedSecret(version=10, expires_at=t0 - timedelta(minutes=1), reject=True)
    async with room(workflow_env, secret, [ShortRuns]) as r:
        first = await r.waiter("first")
        await r.want(CredentialsWanted(workflow_id=wid("first"), seen_version="10", refresh=True))
        [[answer]] = await until_got([first])
        assert answer.reason == c.REFRESH_REJECTED
        await r.until_state(lambda s: s.rejected_version == "10" and not s.waiting)
        await continue_as_new(r, 10)
        state = await r.until_state(lambda s: s.mode == "keeper")
        assert state.rejected_version == "10"
        later = await r.waiter("later")
        await r.want(CredentialsWanted(workflow_id=wid("later"), seen_version="10", refresh=True))
        [[again]] = await until_got([later])
        assert (again.version, again.reason) == ("10", c.REFRESH_REJECTED)
        assert "kubectl gt auth sync --handover" in again.message
        # Time passes: the new run's keeper does not try the dead session on its own either.
        await workflow_env.sleep(timedelta(minutes=30))
        assert (await r.state()).rejected_version == "10"
    assert len(secret.refreshes) == 1


async def test_a_continue_as_new_remembers_a_failed_refresh(
    workflow_env: WorkflowEnvironment,
) -> None:
    """After a failed refresh the keeper waits RETRY_SECONDS before trying again; a
    continue-as-new in between keeps that wait, and waiters hear the failure meanwhile."""
    t0 = await now(workflow_env)
    secret = ScriptedSecret(
        version=7,
        expires_at=t0 + timedelta(minutes=5),
        fail="Secret wftests/claude-creds not refreshed: the token endpoint answered 401",
    )
    async with room(workflow_env, secret, [ShortRuns]) as r:
        first = await r.waiter("first")
        await r.want(CredentialsWanted(workflow_id=wid("first"), seen_version="7", refresh=True))
        [[answer]] = await until_got([first])
        assert answer.reason == "TokenEndpointRefused"
        await continue_as_new(r, 7)
        await r.until_state(lambda s: s.mode == "keeper")
        second = await r.waiter("second")
        await r.want(CredentialsWanted(workflow_id=wid("second"), seen_version="7", refresh=True))
        assert await until_got([second]) == [[answer]]
        assert len(secret.refreshes) == 1


async def test_a_permanent_error_from_the_look_leaves_the_workflow_running(
    workflow_env: WorkflowEnvironment,
) -> None:
    """secret_version is a local activity: its permanent error reaches the workflow as a bare
    ApplicationError. The workflow keeps running and looks again on the next change."""
    secret = ScriptedSecret(version=1, mode="replica", look_error=c.MISSING_SECRET)
    async with room(workflow_env, secret) as r:
        w = await r.waiter("furiosa")
        await r.want(CredentialsWanted(workflow_id=wid("furiosa"), seen_version="1"))
        await secret.until(lambda: secret.looks >= 1)
        await r.until_state(lambda s: s.waiting == [wid("furiosa")] and s.mode is None)
        assert (await r.handle.describe()).status == WorkflowExecutionStatus.RUNNING
        secret.look_error = None
        secret.version = 2
        await r.changed(2)
        assert await asyncio.wait_for(w.result(), DEADLINE) == [CredentialsChanged(version="2")]
