"""CredentialsWorkflow: one per credentials Secret (ID `credentials/<namespace>/<secret>`).

Two jobs, one message at a time in the workflow's own loop:

- **The waiting room.** A polecat that cannot get a fresh token signals `credentials_wanted`
  (signal-with-start) and waits for a `credentials_changed` signal back. A waiter that asked
  for a refresh is answered after the refresh; one that waits for the Secret to change is
  answered when the watcher signals `secret_changed` with a version other than the one it
  saw. A backstop looks at the Secret's version every few minutes while anyone waits, so a
  lost watcher signal costs minutes, not the polecat's whole wait.
- **The keeper** (the Secret's `auth-mode: keeper`). The cluster owns the session: the
  workflow refreshes it ahead of its expiry, forever, and on request (waiters, the `refresh`
  Update). Every refresh is one `refresh_session` activity, and only one runs at a time (a
  lock), so a rotating refresh token is never used twice: 50 polecats asking at once cost one
  request to the token endpoint. When the endpoint refuses the session (invalid_grant) the
  waiters are told why and what to do, and the keeper does not try that session again; nor
  after a session lost to a failed store (SessionLost: its refresh token already spent).

In replica mode (the laptop owns the session) the workflow completes when nobody waits; the
next polecat's signal-with-start begins a new run. It continues as new between steps when the
SDK suggests it or after EVENTS_PER_RUN events, carrying the waiters, the last version and
the keeper's memory of failures (a dead session is never POSTed again by a new run).
No token ever reaches this workflow: the activities read and write the Secret themselves and
answer with versions and expiry times.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from gastown.api import auth
    from gastown.workflows import contract as c
    from gastown.workflows.calls import short_call
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

KEEPER = "keeper"
# While anyone waits, look at the Secret this often (a lost watcher signal costs this much).
BACKSTOP_SECONDS = 300
# After a refresh that failed for another reason than a refused session (the endpoint down
# past the activity's retries), wait this long before the keeper tries again on its own.
RETRY_SECONDS = 300
# The keeper's own refreshes are at least this far apart, however short a session lives.
MIN_GAP_SECONDS = 60
# Listed in the Temporal UI's current details at most.
DETAILS_WAITERS = 20
HANDOVER_HINT = auth.HANDOVER_HINT
# The refresh failures after which only a new handover helps: never tried again at the version.
DEAD_SESSION = (c.REFRESH_REJECTED, c.SESSION_LOST)


@workflow.defn(name=c.CREDENTIALS_WORKFLOW)
class CredentialsWorkflow:
    # History events one run may grow to before it continues as new (a long history slows
    # every replay); a class attribute so a test's subclass can lower it.
    EVENTS_PER_RUN = 5000

    def __init__(self) -> None:
        self._ref = CredentialsRef(namespace="", secret="")
        self._waiters: dict[str, CredentialsWanted] = {}
        self._inbox: list[CredentialsWanted | SecretChanged] = []
        self._lock = asyncio.Lock()
        self._version: str | None = None
        self._mode: str | None = None  # None: not looked at yet (or the look failed)
        self._expires_at: datetime | None = None
        self._last_refresh: datetime | None = None
        self._rejected: str | None = None  # the version whose session the endpoint refused
        self._retry_at: datetime | None = None  # after a failed refresh: not before this
        self._margin = timedelta(seconds=600)
        self._look_at: datetime | None = None  # the next backstop look
        self._must_look = True  # the Secret's state is unknown or may have changed
        self._looked = False  # a look or a refresh told this run the Secret's state
        self._attempted: datetime | None = None  # the keeper's last refresh of its own
        self._poked = False  # an Update learned something the loop should act on
        self._failure: CredentialsChanged | None = None  # what waiters hear until _retry_at

    # ------------------------------------------------------------------ messages
    @workflow.signal(name=c.SIGNAL_CREDENTIALS_WANTED)
    def credentials_wanted(self, wanted: CredentialsWanted) -> None:
        self._inbox.append(wanted)

    @workflow.signal(name=c.SIGNAL_SECRET_CHANGED)
    def secret_changed(self, changed: SecretChanged) -> None:
        self._inbox.append(changed)

    @workflow.query(name=c.QUERY_CREDENTIALS)
    def credentials(self) -> CredentialsState:
        return CredentialsState(
            namespace=self._ref.namespace,
            secret=self._ref.secret,
            mode=self._mode,
            version=self._version,
            expires_at=self._expires_at,
            last_refresh=self._last_refresh,
            refreshing=self._lock.locked(),
            rejected_version=self._rejected,
            waiting=self._waiting(),
        )

    def _waiting(self) -> list[str]:
        """Who waits: the waiters, and those whose request is not taken in yet."""
        arriving = [m.workflow_id for m in self._inbox if isinstance(m, CredentialsWanted)]
        return list(dict.fromkeys([*self._waiters, *arriving]))

    @workflow.update(name=c.UPDATE_REFRESH)
    async def refresh(self, order: RefreshOrder) -> RefreshResult:
        """A refresh on request, after any in flight (never two at once); forced, it treats
        the version the keeper knows as refused, so even a fresh session is refreshed."""
        valid_for = max(order.valid_for_seconds, 0)
        request = RefreshRequest(
            namespace=self._ref.namespace,
            secret=self._ref.secret,
            valid_until=workflow.now() + timedelta(seconds=valid_for),
            rejected_version=self._version if order.force else None,
        )
        async with self._lock:
            if order.force and self._must_look:
                await self._look()
                request = request.model_copy(update={"rejected_version": self._version})
            result = await self._refresh_activity(request)
        self._learn(result)
        self._poked = True  # the loop wakes whom the new version concerns
        return result

    # ------------------------------------------------------------------ the loop
    @workflow.run
    async def run(self, inp: CredentialsInput) -> None:
        self._ref = CredentialsRef(namespace=inp.namespace, secret=inp.secret)
        self._waiters = {w.workflow_id: w for w in inp.waiters}
        self._version = inp.last_version
        self._rejected = inp.rejected_version
        self._retry_at = inp.retry_at
        self._failure = inp.failure
        self._attempted = inp.attempted
        while True:
            self._poked = False
            self._take_inbox()
            if self._must_look or self._backstop_due():
                await self._look()
            await self._wake_stale()
            if any(w.refresh for w in self._waiters.values()):
                await self._refresh_for_waiters()
            elif self._ahead_due():
                await self._refresh_ahead()
            self._details()
            if self._inbox or self._poked:
                continue
            if self._idle():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._inbox and self._idle():
                    return
                continue
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._inbox or self._lock.locked():
                    continue
                # A signal that arrives now makes the server refuse this command; the task
                # runs again and takes the signal first.
                workflow.continue_as_new(
                    CredentialsInput(
                        namespace=self._ref.namespace,
                        secret=self._ref.secret,
                        waiters=list(self._waiters.values()),
                        last_version=self._version,
                        rejected_version=self._rejected,
                        retry_at=self._retry_at,
                        failure=self._failure,
                        attempted=self._attempted,
                    )
                )
            await self._sleep()

    async def _sleep(self) -> None:
        """Until a message arrives or the next timed step (backstop, refresh ahead) is due."""
        looking = self._look_at if self._waiters or self._must_look else None
        wake = [t for t in (looking, self._ahead_at()) if t]
        timeout = None
        if wake:
            timeout = max(min(wake) - workflow.now(), timedelta(seconds=1))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: bool(self._inbox) or self._poked, timeout=timeout)

    def _take_inbox(self) -> None:
        """Waiters join (the last request of a workflow wins). A version other than the one
        this run knows (a waiter's, the watcher's) makes it look: waiters are woken only on
        what a read of the Secret says, never on a signal's word, which may be older than
        what the waiter saw (a watch event delivered late)."""
        while self._inbox:
            message = self._inbox.pop(0)
            if isinstance(message, CredentialsWanted):
                self._waiters[message.workflow_id] = message
                if self._look_at is None:
                    self._look_at = workflow.now() + timedelta(seconds=BACKSTOP_SECONDS)
                seen = message.seen_version
            else:
                seen = message.version
            if seen != self._version:
                self._must_look = True

    # ------------------------------------------------------------------ decisions
    def _idle(self) -> bool:
        """Nothing to wait for: replica (or no Secret), nobody waiting, nothing running."""
        return (
            self._looked
            and not self._must_look
            and self._mode != KEEPER
            and not self._waiters
            and not self._inbox
            and not self._lock.locked()
        )

    def _backstop_due(self) -> bool:
        return bool(self._waiters) and (
            self._look_at is not None and workflow.now() >= self._look_at
        )

    def _ahead_at(self) -> datetime | None:
        """When the keeper refreshes on its own: its margin before the expiry."""
        if self._mode != KEEPER or self._expires_at is None:
            return None
        if self._rejected is not None and self._rejected == self._version:
            return None  # the endpoint refused this session: only a new handover helps
        due = self._expires_at - self._margin
        if self._retry_at is not None:
            due = max(due, self._retry_at)
        if self._attempted is not None:  # a session that lives shorter than the margin
            due = max(due, self._attempted + timedelta(seconds=MIN_GAP_SECONDS))
        return due

    def _ahead_due(self) -> bool:
        due = self._ahead_at()
        return due is not None and workflow.now() >= due

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.EVENTS_PER_RUN
        )

    # ------------------------------------------------------------------ steps
    async def _look(self) -> None:
        """The Secret's version, mode and expiry (the backstop, and after every change)."""
        self._look_at = workflow.now() + timedelta(seconds=BACKSTOP_SECONDS)
        try:
            look: SecretLook = await short_call(c.SECRET_VERSION, self._ref, SecretLook)
        except (ActivityError, ApplicationError):
            # The API server is unwell, or refuses (a local activity's permanent error arrives
            # as the ApplicationError itself, unwrapped): the next backstop looks again.
            return
        self._must_look = False
        self._looked = True
        self._version = look.version
        self._mode = look.mode if look.version is not None else None
        self._expires_at = look.expires_at
        self._last_refresh = look.refreshed_at or self._last_refresh
        self._margin = timedelta(seconds=look.refresh_margin_seconds)

    async def _refresh_for_waiters(self) -> None:
        """One refresh for every waiter that asked for one; those whose session the keeper
        already saw refused (at the version they saw) are told so without a new request."""
        refused = [
            w
            for w in self._waiters.values()
            if w.refresh and self._rejected is not None and w.seen_version == self._rejected
        ]
        if refused:
            await self._tell(refused, self._rejection(self._rejected))
        batch = [w for w in self._waiters.values() if w.refresh]
        if not batch:
            return
        if self._failure is not None and self._retry_at and workflow.now() < self._retry_at:
            # The endpoint failed moments ago: no new try before the keeper's own.
            await self._tell(batch, self._failure)
            return
        until = [w.valid_until for w in batch if w.valid_until is not None]
        rejected = [w.rejected_version for w in batch if w.rejected_version]
        request = RefreshRequest(
            namespace=self._ref.namespace,
            secret=self._ref.secret,
            valid_until=max(until) if until else workflow.now() + 2 * self._margin,
            rejected_version=self._version
            if self._version in rejected
            else next(iter(reversed(rejected)), None),
        )
        asked = {w.workflow_id for w in batch}
        try:
            async with self._lock:
                result = await self._refresh_activity(request)
        except ApplicationError as err:
            failed = [self._waiters[i] for i in asked if i in self._waiters]
            await self._tell(failed, err_answer(err, self._version))
            return
        self._learn(result)
        self._take_inbox()
        done = [
            w
            for w in self._waiters.values()
            if w.refresh and (w.workflow_id in asked or covers(result, w))
        ]
        answer = CredentialsChanged(version=result.version, refreshed=result.mode == KEEPER)
        await self._tell(done, answer)

    async def _refresh_ahead(self) -> None:
        """The keeper's own refresh, its margin before the expiry."""
        request = RefreshRequest(
            namespace=self._ref.namespace,
            secret=self._ref.secret,
            valid_until=workflow.now() + 2 * self._margin,
        )
        self._attempted = workflow.now()
        try:
            async with self._lock:
                result = await self._refresh_activity(request)
        except ApplicationError:
            return
        self._learn(result)

    async def _refresh_activity(self, request: RefreshRequest) -> RefreshResult:
        """refresh_session; a failure is noted (a refused session at its version, any other
        one delays the keeper's next try) and raised as an ApplicationError."""
        try:
            result: RefreshResult = await workflow.execute_activity(
                c.REFRESH_SESSION,
                request,
                result_type=RefreshResult,
                start_to_close_timeout=c.REFRESH_TIMEOUT,
                retry_policy=c.REFRESH_RETRY,
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in DEAD_SESSION:
                # The activity's read is the freshest word on the Secret's version.
                if cause.details:
                    self._version = str(cause.details[0])
                self._rejected = self._version
            else:
                self._retry_at = workflow.now() + timedelta(seconds=RETRY_SECONDS)
                self._failure = err_answer(
                    cause if isinstance(cause, ApplicationError) else ApplicationError(str(exc)),
                    self._version,
                )
            if isinstance(cause, ApplicationError):
                raise cause from None
            raise ApplicationError(f"refresh failed: {exc}", type="RefreshFailed") from None
        return result

    def _learn(self, result: RefreshResult) -> None:
        self._version = result.version
        self._mode = result.mode
        self._expires_at = result.expires_at
        self._retry_at = None
        self._failure = None
        self._must_look = False
        self._looked = True
        if result.refreshed:
            self._last_refresh = workflow.now()

    # ------------------------------------------------------------------ effects
    async def _wake_stale(self) -> bool:
        """Wake every waiter (refresh or not) whose seen version is no longer the Secret's;
        True when some were woken."""
        if not self._looked or self._must_look:
            return False
        stale = [w for w in self._waiters.values() if w.seen_version != self._version]
        await self._tell(stale, CredentialsChanged(version=self._version))
        return bool(stale)

    async def _tell(self, waiters: list[CredentialsWanted], answer: CredentialsChanged) -> None:
        """Signal each waiter (to its workflow ID, no run ID) and let it go; one whose
        workflow is gone has nothing to learn."""
        for w in waiters:
            self._waiters.pop(w.workflow_id, None)
        if not self._waiters:
            self._look_at = None
        if not waiters:
            return
        results = await asyncio.gather(
            *(
                workflow.get_external_workflow_handle(w.workflow_id).signal(
                    c.SIGNAL_CREDENTIALS_CHANGED, answer
                )
                for w in waiters
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, FailureError):
                raise result

    def _rejection(self, version: str | None) -> CredentialsChanged:
        return CredentialsChanged(
            version=version,
            reason=c.REFRESH_REJECTED,
            message=f"the session in Secret {self._ref.namespace}/{self._ref.secret} cannot be "
            f"refreshed (refused by the token endpoint, or lost after a refresh): {HANDOVER_HINT}",
        )

    def _details(self) -> None:
        """What the Temporal UI shows for the Secret: mode, expiry, waiters; never a token."""
        when = f"{self._expires_at:%Y-%m-%d %H:%M}Z" if self._expires_at else "unknown"
        last = f"{self._last_refresh:%Y-%m-%d %H:%M}Z" if self._last_refresh else "never"
        lines = [
            f"**{self._mode or 'unknown'}** credentials `{self._ref.namespace}/{self._ref.secret}`"
            f" · expires {when} · last refresh {last} · **{len(self._waiters)} waiting**"
        ]
        if self._rejected is not None and self._rejected == self._version:
            lines.append(f"session refused or lost, no more refreshes: {HANDOVER_HINT}")
        lines += [f"- `{wid}`" for wid in list(self._waiters)[:DETAILS_WAITERS]]
        if len(self._waiters) > DETAILS_WAITERS:
            lines.append(f"- … {len(self._waiters) - DETAILS_WAITERS} more")
        workflow.set_current_details("\n".join(lines))


def covers(result: RefreshResult, wanted: CredentialsWanted) -> bool:
    """A refresh that ended after this waiter asked still serves it when its result is valid
    as long as the waiter needs and is not the version it found refused."""
    if result.mode != KEEPER:
        return True  # nothing a keeper can do for it: let it look again
    if wanted.rejected_version is not None and wanted.rejected_version == result.version:
        return False
    return (
        wanted.valid_until is None
        or result.expires_at is None
        or result.expires_at >= wanted.valid_until
    )


def err_answer(err: ApplicationError, version: str | None) -> CredentialsChanged:
    """What waiters hear when their refresh failed."""
    if err.type in DEAD_SESSION:
        return CredentialsChanged(
            version=str(err.details[0]) if err.details else version,
            reason=err.type,
            message=err.message
            if "auth sync --handover" in err.message
            else f"{err.message}. Next step: {HANDOVER_HINT}",
        )
    return CredentialsChanged(
        version=version,
        reason=err.type or "RefreshFailed",
        message=f"the session could not be refreshed ({err.message}); the keeper tries again "
        "in a few minutes",
    )
