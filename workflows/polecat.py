"""PolecatWorkflow: one bead, one polecat, attempts until it is done, doomed or nuked.

The workflow decides; activities act. Each step is an idempotent activity found by name, the
wait on the pod is one long heartbeating activity (no polling loop in history), and the pod's
changes arrive as signals so the `status` query and the Temporal UI move with the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from gastown.api import identity as ids
    from gastown.api.auth import SYNC_HINT
    from gastown.api.polecat import Outcome, PolecatPhase
    from gastown.workflows import contract as c
    from gastown.workflows import metrics
    from gastown.workflows.calls import short_call
    from gastown.workflows.failures import error_text
    from gastown.workflows.messages import (
        AttemptResult,
        CredentialReport,
        CredentialsAsk,
        CredentialsChanged,
        CredentialsWanted,
        DeletePod,
        EnsureRequest,
        LaunchRequest,
        NukeRequest,
        PodDeletion,
        PodObservation,
        PodRef,
        PolecatInput,
        PolecatRef,
        PolecatReport,
        PolecatResult,
        PolecatState,
        Resolved,
        SlotAnswer,
        SlotAnswerKind,
        SlotRelease,
        SlotRequest,
        StatusUpdate,
        TokenGrant,
        TokenGrantKind,
        TokenRequest,
        Verdict,
        WaitRequest,
    )
    from gastown.workflows.tracing import trace_id

# What the runtime's outcome means for the polecat's phase.
OUTCOME_PHASE: dict[Outcome, PolecatPhase] = {
    Outcome.COMPLETED: PolecatPhase.DONE,
    Outcome.NO_CHANGES: PolecatPhase.DONE,
    Outcome.STUCK: PolecatPhase.STUCK,
    Outcome.TERMINATED: PolecatPhase.TERMINATED,
}

AUTH_HINT = f"{SYNC_HINT} to refresh the Claude credentials"
# Phases a convoy hears about on entering them, and those it hears about on leaving them.
REPORTED = (PolecatPhase.QUEUED, PolecatPhase.WORKING, PolecatPhase.WAITING_FOR_CREDENTIALS)
REPORTED_LEAVING = (PolecatPhase.QUEUED, PolecatPhase.WAITING_FOR_CREDENTIALS)
# Workflows that started before the credentials gate replay without it (workflow.patched).
PATCH_CREDENTIALS_GATE = "credentials-gate"
# While parked, look at the credentials Secret again this often even without a signal: a lost
# signal costs minutes, not the whole wait.
CREDENTIALS_BACKSTOP = timedelta(minutes=10)
# The query's reason while the keeper refreshes (not parked: that takes a moment).
REFRESHING = "RefreshingCredentials"
# How much longer than its deadline and pending timeout a pod's token must stay valid.
TOKEN_MARGIN_SECONDS = 600
# After a transient refresh failure (the token endpoint down), ask the keeper again after this
# long at the same version; a RefreshRejected is for good at its version.
REFRESH_RETRY = timedelta(minutes=5)


@workflow.defn(name=c.POLECAT_WORKFLOW)
class PolecatWorkflow:
    def __init__(self) -> None:
        self._state = PolecatState(phase=PolecatPhase.PENDING)
        self._nuke: NukeRequest | None = None
        self._finished = False
        self._input: PolecatInput | None = None
        self._slot: SlotAnswer | None = None
        self._slot_requested = False
        self._bead = ""
        self._reports: list[asyncio.Task[None]] = []
        # The credentials gate: on for workflows that started with it; the polecat's CR once
        # claimed; answers from the credentials workflow (counted, so a wait sees any that
        # came after its look); what this gate asked per (version, refresh); versions whose
        # refresh failed (reason, message) and, for a transient failure, when it may be asked
        # again; versions the keeper refreshed to; the one retry after auth_expired.
        self._gated = False
        self._polecat: PolecatRef | None = None
        self._changes = 0
        self._change: CredentialsChanged | None = None
        self._asked: set[tuple[str | None, bool]] = set()
        self._refresh_failed: dict[str | None, tuple[str, str]] = {}
        self._retry_refresh_at: dict[str | None, datetime] = {}
        self._refreshed: set[str] = set()
        self._auth_retried = False
        self._grant: TokenGrant | None = None  # the last READY: what the polecat's Secret holds
        self._rig = ""  # for the metrics' labels, once resolved
        self._counted = False  # counted as started

    # ------------------------------------------------------------------ messages
    @workflow.query(name=c.QUERY_STATUS)
    def status(self) -> PolecatState:
        return self._state

    @workflow.signal(name=c.SIGNAL_POD_OBSERVED)
    def pod_observed(self, obs: PodObservation) -> None:
        # Observations of an earlier attempt's pod (a late signal) change nothing.
        if obs.attempt != self._state.attempt or self._state.phase.is_final:
            return
        phase = PolecatPhase.WORKING if obs.phase == "Running" else self._state.phase
        self._set(phase=phase, pod_phase=obs.phase, reason=obs.reason, message=obs.message)

    @workflow.signal(name=c.SIGNAL_SLOT_ANSWER)
    def slot_answer(self, answer: SlotAnswer) -> None:
        # Granted and refused are final; a queued answer only says where we stand.
        if self._slot is None or self._slot.kind == SlotAnswerKind.QUEUED:
            self._slot = answer

    @workflow.signal(name=c.SIGNAL_CREDENTIALS_CHANGED)
    def credentials_changed(self, change: CredentialsChanged) -> None:
        """The credentials Secret's workflow says: look again (refreshed, changed, or the
        refresh failed and why)."""
        self._changes += 1
        self._change = change
        if change.refreshed and change.version is not None:
            self._refreshed.add(change.version)

    @workflow.update(name=c.UPDATE_NUKE)
    async def nuke(self, request: NukeRequest) -> PolecatState:
        self._nuke = self._nuke or request
        await workflow.wait_condition(lambda: self._finished)
        return self._state

    @nuke.validator
    def _validate_nuke(self, request: NukeRequest) -> None:
        if self._finished or self._state.phase.is_final:
            raise ValueError(f"the polecat already finished ({self._state.phase.value})")

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, inp: PolecatInput) -> PolecatResult:
        self._input = inp
        info = workflow.info()
        try:
            resolved: Resolved = await short_call(c.RESOLVE_POLECAT, inp, Resolved)
            self._bead = resolved.bead_id
            self._rig = resolved.rig
            self._counted = True
            metrics.polecat_started(resolved.rig)
            self._upsert_identity(resolved)
            await short_call(c.CHECK_CREDENTIALS, resolved, CredentialReport)
        except (ActivityError, ApplicationError) as err:
            # A local activity's permanent error arrives as the ApplicationError itself, not
            # wrapped in an ActivityError as a regular activity's is.
            return await self._fail(inp, *error_text(err))
        try:
            polecat: PolecatRef = await short_call(
                c.ENSURE_POLECAT,
                EnsureRequest(
                    resolved=resolved,
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                    trace_id=trace_id(),
                ),
                PolecatRef,
            )
            if resolved.claude_creds_secret:
                self._polecat = polecat  # its own token Secret is revoked at the end
            self._gated = workflow.patched(PATCH_CREDENTIALS_GATE)
            if self._gated:
                # Fresh credentials before taking a slot: a parked polecat holds none.
                self._grant = await self._gate(resolved, polecat)
            refused = await self._take_slot(resolved)
            if refused is None:
                result, pod = await self._attempts(resolved, polecat)
        except (ActivityError, ApplicationError) as err:
            # Refused for good on the way (the CR went, a pod name taken by another, no
            # credentials for too long): say so where the user looks and give the slot back,
            # instead of failing silently.
            await self._release_slot(resolved)
            await self._revoke()
            return await self._fail(inp, *error_text(err))
        if refused is not None:
            await self._release_slot(resolved)
            await self._revoke()
            return await self._fail(inp, refused.reason, refused.message)
        return await self._finish(resolved, result, pod)

    async def _take_slot(self, r: Resolved) -> SlotAnswer | None:
        """Wait for one of the rig's slots (see rigslots.py); the refusal if refused, None when
        granted or nuked while queued."""
        if self._nuke is not None:
            return None  # nuked before asking: nothing to ask for, nothing to give back
        info = workflow.info()
        self._slot_requested = True
        asked_at = workflow.now()
        await short_call(
            c.REQUEST_SLOT,
            SlotRequest(
                rig=r.rig,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                polecat=f"{r.namespace}/{r.name}",
                bead_id=r.bead_id,
                limit=r.max_polecats,
                allow_same_bead=r.allow_same_bead,
            ),
        )
        # The first answer is awaited even by a nuke (it comes within moments): a workflow
        # that completed while its answer was in flight would fail that workflow task, and
        # the retried task would ask again, be answered again, and so on.
        await workflow.wait_condition(lambda: self._slot is not None)
        queued = self._slot
        if queued is not None and queued.kind == SlotAnswerKind.QUEUED and self._nuke is None:
            self._set(phase=PolecatPhase.QUEUED, reason=queued.reason, message=queued.message)
            await self._status(
                r, PolecatPhase.QUEUED, queued.reason, queued.message, event_type="Normal"
            )
            await workflow.wait_condition(lambda: self._decided() or self._nuke is not None)
        if self._slot is not None and self._slot.kind == SlotAnswerKind.REFUSED:
            return self._slot
        if self._slot is not None and self._slot.kind == SlotAnswerKind.GRANTED:
            metrics.queue_waited(r.rig, asked_at)
        return None

    def _decided(self) -> bool:
        """Granted or refused: the rig's answer past any place in its queue."""
        return self._slot is not None and self._slot.kind != SlotAnswerKind.QUEUED

    async def _release_slot(self, r: Resolved) -> None:
        """Give the slot (or the place in the queue) back; the rig's next polecat starts.

        A local activity signals the slots workflow: one marker in this history, where an
        external signal from the workflow would cost two events and a workflow task. If it
        cannot (Temporal refusing for minutes), the slots workflow's audit finds this closed
        workflow later."""
        if not self._slot_requested:
            return
        info = workflow.info()
        with contextlib.suppress(ActivityError, ApplicationError):
            await short_call(
                c.RELEASE_SLOT,
                SlotRelease(rig=r.rig, workflow_id=info.workflow_id, run_id=info.run_id),
            )

    async def _attempts(
        self, resolved: Resolved, polecat: PolecatRef
    ) -> tuple[AttemptResult | None, PodRef | None]:
        info = workflow.info()
        result: AttemptResult | None = None
        pod: PodRef | None = None
        attempt = 0
        budget = resolved.max_attempts  # one more after a first auth_expired (not counted)
        rejected: str | None = None  # the credentials version a pod found refused
        while attempt < budget:
            if self._nuke:
                break
            grant: TokenGrant | None = None
            if self._gated:
                grant = None if rejected else self._still_valid(resolved)
                grant = grant or await self._gate(resolved, polecat, rejected, attempt=attempt + 1)
                if grant is None:
                    break  # nuked while waiting for credentials
                self._grant = grant
            attempt += 1
            self._set(attempt=attempt, phase=PolecatPhase.PENDING, pod=None, pod_phase=None)
            pod = await short_call(
                c.LAUNCH_POD,
                LaunchRequest(
                    resolved=resolved,
                    polecat=polecat,
                    attempt=attempt,
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                    # Only a gated run writes the polecat's own Secret; a run from before the
                    # gate leaves None and its pods mount the user's Secret, as they did.
                    pod_auth_secret=ids.pod_auth_secret_name(resolved.name)
                    if self._gated and resolved.claude_creds_secret
                    else None,
                ),
                PodRef,
            )
            self._set(pod=pod.name)
            workflow.upsert_memo({"pod": pod.name, "attempt": attempt})
            result = await self._wait(pod, resolved)
            if result is None:
                break
            outcome = result.outcome.value if result.outcome else result.verdict.value
            metrics.pod_ran(resolved.rig, outcome, result.pod_started_at, result.pod_finished_at)
            metrics.agent_spent(resolved.rig, result.agent_cost_usd, result.agent_turns)
            if grant is not None and self._retry_after_auth_expired(result, grant):
                # Once per polecat: the gate with the refused version (never handed out
                # again), then one more attempt. A second auth_expired ends it.
                self._auth_retried = True
                rejected = grant.version
                budget += 1
                await self._status(
                    resolved,
                    PolecatPhase.PENDING,
                    "AuthExpired",
                    f"attempt {attempt}: the model API refused the Claude credentials; "
                    f"attempt {attempt + 1} once fresh ones are in Secret {grant.secret!r}",
                    pod=pod,
                    event_type="Warning",
                )
                # That pod is finished: its logs stay for the failed-pod TTL, as for the last.
                await self._delete_pod_later(pod, resolved.failed_pod_ttl_seconds)
                continue
            rejected = None
            if result.verdict != Verdict.TRANSIENT:
                break
            if attempt < budget:
                await self._status(
                    resolved,
                    PolecatPhase.PENDING,
                    "Retrying",
                    f"attempt {attempt} failed ({result.reason}: {result.message}); "
                    f"attempt {attempt + 1} in {resolved.backoff_seconds}s",
                    pod=pod,
                    event_type="Warning",
                )
                # A durable timer that a nuke cuts short.
                with contextlib.suppress(asyncio.TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._nuke is not None,
                        timeout=timedelta(seconds=resolved.backoff_seconds),
                    )
        return result, pod

    def _retry_after_auth_expired(self, result: AttemptResult, grant: TokenGrant) -> bool:
        return (
            not self._auth_retried
            and grant.secret is not None
            and result.verdict == Verdict.FINISHED
            and result.outcome == Outcome.AUTH_EXPIRED
        )

    # ------------------------------------------------------------------ credentials
    @staticmethod
    def _token_lifetime(r: Resolved) -> int:
        """Seconds a pod's token must stay valid: its pending time, its deadline, a margin."""
        return r.active_deadline_seconds + r.pending_timeout_seconds + TOKEN_MARGIN_SECONDS

    def _still_valid(self, r: Resolved) -> TokenGrant | None:
        """The last grant while the token it put in the polecat's Secret stays valid for a
        whole pod from now: a polecat that went from the gate to its slot and its pod at once
        (the usual case) needs no second look at the credentials, nor a second write."""
        g = self._grant
        if g is None or g.kind != TokenGrantKind.READY:
            return None
        lifetime = timedelta(seconds=self._token_lifetime(r))
        if g.expires_at is not None and g.expires_at < workflow.now() + lifetime:
            return None
        return g

    async def _gate(
        self, r: Resolved, polecat: PolecatRef, rejected: str | None = None, attempt: int = 0
    ) -> TokenGrant | None:
        """Make sure the polecat's own Secret holds a token valid for a whole pod; the grant,
        or None when nuked meanwhile. Parks (WaitingForCredentials) while nothing fresh can
        be had and gives up after `credentials_wait_seconds` (CredentialsUnavailable).

        Register, then look again: a change between a look and the registration is seen by
        the second look; one after it is signalled by the credentials workflow (and a lost
        signal is caught by the backstop's re-look). `attempt`: the one about to start (0
        before the slot), written with the park so each gate's Events are its own."""
        request = TokenRequest(
            resolved=r,
            polecat=polecat,
            valid_for_seconds=self._token_lifetime(r),
            rejected_version=rejected,
        )
        if not r.claude_creds_secret:
            return TokenGrant(kind=TokenGrantKind.READY)  # an API key: nothing to issue
        # What an earlier gate asked is not registered any more (its waiter was answered):
        # this one registers afresh, even at the same version; refreshes it heard of are old
        # news. Failures stay known.
        self._asked.clear()
        self._refreshed.clear()
        since: datetime | None = None  # the first look that found nothing fresh
        parked: tuple[str, str] | None = None  # why, while parked
        while self._nuke is None:
            seen = self._changes
            grant: TokenGrant = await short_call(c.ISSUE_POD_TOKEN, request, TokenGrant)
            if grant.kind == TokenGrantKind.READY:
                if parked is not None:
                    await self._unpark(r, grant, attempt)
                elif self._state.reason == REFRESHING:
                    self._set(reason=None, message=None)
                return grant
            since = since or workflow.now()
            if (
                grant.kind == TokenGrantKind.REFRESH
                and grant.version in self._refreshed
                and grant.version != rejected
            ):
                # The keeper refreshed to this very version and it is still not enough: the
                # token endpoint issues shorter sessions than the pod needs. Asking again
                # would rotate the session once per look, for ever.
                self._refresh_failed.setdefault(grant.version, self._too_short(r, grant))
            failed = self._failure(grant.version)
            if grant.kind == TokenGrantKind.REFRESH and failed is None:
                wanted = CredentialsWanted(
                    workflow_id=workflow.info().workflow_id,
                    seen_version=grant.version,
                    refresh=True,
                    valid_until=workflow.now() + timedelta(seconds=request.valid_for_seconds),
                    rejected_version=rejected,
                )
                if parked is None:
                    self._set(
                        reason=REFRESHING,
                        message=f"asked for a fresh token for Secret {grant.secret!r}",
                    )
            else:
                why = failed or (grant.reason or c.CREDENTIALS_EXPIRED, grant.message)
                if why != parked:
                    parked = why
                    await self._park(r, *why, attempt=attempt)
                wanted = CredentialsWanted(
                    workflow_id=workflow.info().workflow_id, seen_version=grant.version
                )
            if (grant.version, wanted.refresh) not in self._asked:
                self._asked.add((grant.version, wanted.refresh))
                await self._ask(r, grant, wanted)
                continue  # look again at once
            await self._await_change(r, grant, seen, since, parked)
        return None

    def _failure(self, version: str | None) -> tuple[str, str] | None:
        """Why the keeper could not refresh at `version`, if it could not; a transient
        failure is forgotten after REFRESH_RETRY, so the refresh is asked for again."""
        retry_at = self._retry_refresh_at.get(version)
        if retry_at is not None and workflow.now() >= retry_at:
            del self._retry_refresh_at[version]
            self._refresh_failed.pop(version, None)
            self._asked.discard((version, True))
        return self._refresh_failed.get(version)

    def _too_short(self, r: Resolved, grant: TokenGrant) -> tuple[str, str]:
        until = f"{grant.expires_at:%Y-%m-%d %H:%M}Z" if grant.expires_at else "an unknown time"
        return (
            c.CREDENTIALS_EXPIRED,
            f"the refreshed session in Secret {grant.secret!r} lasts until {until}, less than "
            f"the pod's deadline needs ({self._token_lifetime(r)}s: active deadline, pending "
            "timeout and a margin); the token endpoint issues no longer sessions: lower the "
            "rig's activeDeadlineSeconds, or use a long-lived token (`claude setup-token`)",
        )

    async def _ask(self, r: Resolved, grant: TokenGrant, wanted: CredentialsWanted) -> None:
        """Register with the credentials Secret's workflow (best effort: if Temporal refuses
        for minutes, the backstop's re-look still finds a change)."""
        with contextlib.suppress(ActivityError, ApplicationError):
            await short_call(
                c.ASK_CREDENTIALS,
                CredentialsAsk(
                    namespace=r.namespace,
                    secret=grant.secret or r.claude_creds_secret or "",
                    wanted=wanted,
                ),
            )

    async def _await_change(
        self,
        r: Resolved,
        grant: TokenGrant,
        seen: int,
        since: datetime,
        parked: tuple[str, str] | None,
    ) -> None:
        """Until the credentials workflow answers, a nuke, the backstop's re-look, or the end
        of the wait (then raise CredentialsUnavailable)."""
        limit = timedelta(seconds=r.credentials_wait_seconds)
        left = since + limit - workflow.now()
        retry_at = self._retry_refresh_at.get(grant.version)
        if retry_at is not None:
            left = min(left, retry_at - workflow.now())  # then ask the keeper again
        if left > timedelta(0):
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(
                    lambda: self._changes > seen or self._nuke is not None,
                    timeout=min(left, CREDENTIALS_BACKSTOP),
                )
        change = self._change
        if self._changes > seen and change is not None and change.reason:
            # The keeper could not refresh at the version it names (a late answer may name an
            # earlier one than this look's). Rejected: only a new Secret helps. Anything else
            # (the endpoint down): ask again after REFRESH_RETRY.
            version = change.version if change.version is not None else grant.version
            known = self._refresh_failed.get(version)
            if known is None or known[0] != c.REFRESH_REJECTED:  # a rejection stays one
                self._refresh_failed[version] = (
                    change.reason,
                    change.message or f"the refresh failed; {AUTH_HINT}",
                )
                if change.reason == c.REFRESH_REJECTED:
                    self._retry_refresh_at.pop(version, None)
                else:
                    self._retry_refresh_at[version] = workflow.now() + REFRESH_RETRY
        if self._nuke is None and self._changes == seen and workflow.now() >= since + limit:
            reason, message = parked or (grant.reason, grant.message)
            hours = r.credentials_wait_seconds / 3600
            raise ApplicationError(
                f"no fresh Claude credentials in Secret {grant.secret!r} after {hours:g}h "
                f"({reason or 'no answer from the keeper'}: {message or 'none'}); {AUTH_HINT}",
                type=c.CREDENTIALS_UNAVAILABLE,
                non_retryable=True,
            )

    async def _park(self, r: Resolved, reason: str, message: str, *, attempt: int) -> None:
        """WaitingForCredentials, where the user looks: the CR (reason, message with the next
        step, a Warning Event), the Temporal UI's details and GastownPhase, the convoy."""
        if "kubectl gt auth sync" not in message:
            message = f"{message}; {AUTH_HINT}" if message else AUTH_HINT
        self._set(phase=PolecatPhase.WAITING_FOR_CREDENTIALS, reason=reason, message=message)
        await self._status(
            r,
            PolecatPhase.WAITING_FOR_CREDENTIALS,
            reason,
            message,
            attempt=attempt,
            event_type="Warning",
        )

    async def _unpark(self, r: Resolved, grant: TokenGrant, attempt: int) -> None:
        message = f"fresh Claude credentials in Secret {grant.secret!r}; going on"
        self._set(phase=PolecatPhase.PENDING, reason="CredentialsReady", message=message)
        await self._status(
            r,
            PolecatPhase.PENDING,
            "CredentialsReady",
            message,
            attempt=attempt,
            event_type="Normal",
        )

    async def _revoke(self) -> None:
        """Delete the polecat's own Secret (its pods' token; none without Claude credentials).
        Best effort: the Polecat owns it, so it goes with the CR anyway."""
        if not self._gated or self._polecat is None:
            return
        with contextlib.suppress(ActivityError, ApplicationError):
            await short_call(c.REVOKE_POD_TOKEN, self._polecat)

    async def _wait(self, pod: PodRef, resolved: Resolved) -> AttemptResult | None:
        """Wait for the pod's verdict; None when a nuke interrupted the wait."""
        handle = workflow.start_activity(
            c.WAIT_POD,
            WaitRequest(
                pod=pod,
                polecat=resolved.name,
                pending_timeout_seconds=resolved.pending_timeout_seconds,
                image_pull_grace_seconds=resolved.image_pull_grace_seconds,
            ),
            result_type=AttemptResult,
            start_to_close_timeout=timedelta(
                seconds=resolved.pending_timeout_seconds
                + resolved.active_deadline_seconds * 2
                + 300
            ),
            heartbeat_timeout=c.WAIT_HEARTBEAT,
            retry_policy=c.WAIT_RETRY,
        )
        await workflow.wait_condition(lambda: handle.done() or self._nuke is not None)
        if not handle.done():
            handle.cancel()
            with contextlib.suppress(ActivityError):  # cancelled as asked
                await handle
            return None
        result: AttemptResult = await handle
        return result

    async def _finish(
        self, resolved: Resolved, result: AttemptResult | None, pod: PodRef | None
    ) -> PolecatResult:
        if self._nuke or result is None:
            if pod:
                await short_call(
                    c.DELETE_POD, DeletePod(namespace=pod.namespace, name=pod.name, uid=pod.uid)
                )
            reason = self._nuke.reason if self._nuke else "terminated"
            phase, outcome, why, text = (
                PolecatPhase.TERMINATED,
                Outcome.TERMINATED,
                "Nuked",
                reason,
            )
        else:
            phase, outcome, why, text = self._conclude(result)
        self._set(phase=phase, outcome=outcome, reason=why, message=text)
        metrics.polecat_finished(resolved.rig, phase.value, outcome.value)
        if result is not None:
            self._set(branch=result.branch, pull_request_url=result.pull_request_url)
        await self._status(
            resolved,
            phase,
            why,
            text,
            pod=pod,
            outcome=outcome,
            result=result,
            finished=True,
            event_type="Normal" if phase == PolecatPhase.DONE else "Warning",
        )
        memo: dict[str, Any] = {"phase": phase.value, "outcome": outcome.value}
        if result is not None:
            memo.update(
                {k: v for k, v in (("branch", result.branch), ("pr", result.pull_request_url),
                                   ("commit", result.head_commit)) if v}
            )  # fmt: skip
        workflow.upsert_memo(memo)
        await self._release_slot(resolved)
        await self._revoke()
        if pod is not None and phase != PolecatPhase.TERMINATED:
            ttl = (
                resolved.succeeded_pod_ttl_seconds
                if phase == PolecatPhase.DONE
                else resolved.failed_pod_ttl_seconds
            )
            await self._delete_pod_later(pod, ttl)
        done = PolecatResult(
            phase=phase,
            outcome=outcome,
            reason=why,
            message=text,
            attempts=self._state.attempt,
            pod=pod.name if pod else None,
            branch=result.branch if result else None,
            commit=result.head_commit if result else None,
            pull_request_url=result.pull_request_url if result else None,
            agent_cost_usd=result.agent_cost_usd if result else None,
        )
        await self._report_end(done)
        self._finished = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return done

    @staticmethod
    def _conclude(result: AttemptResult) -> tuple[PolecatPhase, Outcome, str, str]:
        if result.verdict != Verdict.FINISHED or result.outcome is None:
            return PolecatPhase.FAILED, Outcome.POD_FAILED, result.reason, result.message
        outcome = result.outcome
        phase = OUTCOME_PHASE.get(outcome, PolecatPhase.FAILED)
        text = result.message or outcome.value.replace("_", " ")
        if outcome == Outcome.AUTH_EXPIRED:
            text = f"{text}; {AUTH_HINT}"
        reason = "".join(part.capitalize() for part in outcome.value.split("_"))
        return phase, outcome, reason, text

    async def _fail(self, inp: PolecatInput, kind: str, text: str) -> PolecatResult:
        """End Failed without a verdict from a pod: refused before one ran (or could run)."""
        self._set(phase=PolecatPhase.FAILED, reason=kind, message=text)
        if not self._counted:  # refused before its rig was known
            metrics.polecat_started(self._rig)
        metrics.polecat_finished(self._rig, PolecatPhase.FAILED.value, "none")
        if kind != c.POLECAT_GONE:
            # Say why in the CR's status, where the user looks (`kubectl get polecats`); if
            # even that fails, the reason above is what the workflow fails with.
            with contextlib.suppress(ActivityError, ApplicationError):
                await short_call(
                    c.UPDATE_STATUS,
                    StatusUpdate(
                        namespace=inp.namespace,
                        name=inp.name,
                        phase=PolecatPhase.FAILED,
                        reason=kind,
                        message=text,
                        workflow_id=workflow.info().workflow_id,
                        run_id=workflow.info().run_id,  # so `sling --wait` knows it is this run's
                        finished=True,
                        event_type="Warning",
                    ),
                )
        await self._report_end(
            PolecatResult(
                phase=PolecatPhase.FAILED,
                outcome=None,
                reason=kind,
                message=text,
                attempts=self._state.attempt,
            )
        )
        self._finished = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        raise ApplicationError(f"{kind}: {text}", type=kind, non_retryable=True)

    # ------------------------------------------------------------------ helpers

    async def _status(
        self,
        resolved: Resolved,
        phase: PolecatPhase,
        reason: str,
        message: str,
        *,
        pod: PodRef | None = None,
        outcome: Outcome | None = None,
        result: AttemptResult | None = None,
        finished: bool = False,
        event_type: str | None = None,
        attempt: int | None = None,
    ) -> None:
        await short_call(
            c.UPDATE_STATUS,
            StatusUpdate(
                namespace=resolved.namespace,
                name=resolved.name,
                phase=phase,
                reason=reason,
                message=message[:4000],
                workflow_id=workflow.info().workflow_id,
                pod_name=pod.name if pod else None,
                attempt=pod.attempt if pod else attempt,
                outcome=outcome,
                branch=result.branch if result else None,
                commit=result.head_commit if result else None,
                pull_request_url=result.pull_request_url if result else None,
                agent_cost_usd=result.agent_cost_usd if result else None,
                finished=finished,
                event_type=event_type,
            ),
        )

    async def _delete_pod_later(self, pod: PodRef, ttl: int) -> None:
        """Leave the pod (and its logs) for its TTL: an annotation on the pod says when the
        watcher may delete it, so no workflow stays open for it. Best effort: a pod left
        unannotated is the watcher's to judge, never a reason to fail the polecat."""
        with contextlib.suppress(ActivityError, ApplicationError):
            await short_call(
                c.SCHEDULE_POD_DELETION,
                PodDeletion(namespace=pod.namespace, name=pod.name, uid=pod.uid, ttl_seconds=ttl),
            )

    # ------------------------------------------------------------------ the convoy
    def _report(self, phase: PolecatPhase) -> None:
        """Tell the convoy (the parent, if any) that this polecat is now Queued, Working,
        WaitingForCredentials, or back to Pending from Queued or WaitingForCredentials; sent
        from a task, since signal handlers cannot wait."""
        if workflow.info().parent is not None:
            report = self._report_of(phase)
            self._reports.append(asyncio.create_task(self._send_report(report)))

    async def _report_end(self, result: PolecatResult) -> None:
        """How it ended, after every earlier report (a convoy takes the last word)."""
        if workflow.info().parent is None:
            return
        await asyncio.gather(*self._reports)
        await self._send_report(
            self._report_of(result.phase).model_copy(
                update={
                    "outcome": result.outcome,
                    "reason": result.reason,
                    "message": result.message[:1000],
                    "branch": result.branch,
                    "pull_request_url": result.pull_request_url,
                    "agent_cost_usd": result.agent_cost_usd,
                }
            )
        )

    def _report_of(self, phase: PolecatPhase) -> PolecatReport:
        info = workflow.info()
        return PolecatReport(
            workflow_id=info.workflow_id,
            polecat=self._input.name if self._input else "",
            bead_id=self._bead,
            phase=phase,
            attempts=self._state.attempt,
        )

    @staticmethod
    async def _send_report(report: PolecatReport) -> None:
        """To the parent's workflow ID, no run ID: the convoy's current run, whatever number
        of continue-as-new it went through. A convoy gone takes no report (its audit would
        have found this one's outcome)."""
        parent = workflow.info().parent
        if parent is None:
            return
        with contextlib.suppress(FailureError):
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                c.SIGNAL_POLECAT_REPORT, report
            )

    def _upsert_identity(self, resolved: Resolved) -> None:
        updates = [
            c.SA_RIG.value_set(resolved.rig),
            c.SA_BEAD.value_set(resolved.bead_id),
            c.SA_POLECAT.value_set(resolved.name),
            c.SA_PHASE.value_set(self._state.phase.value),
        ]
        if resolved.convoy:
            updates.append(c.SA_CONVOY.value_set(resolved.convoy))
        workflow.upsert_search_attributes(updates)

    def _set(self, **changes: Any) -> None:
        """Change the queried state; keep the UI's summary and the phase attribute in step."""
        before = self._state.phase
        self._state = self._state.model_copy(update=changes)
        now = self._state.phase
        if now != before and self._input is not None:
            workflow.upsert_search_attributes([c.SA_PHASE.value_set(now.value)])
            if now in REPORTED or (before in REPORTED_LEAVING and not now.is_final):
                self._report(now)
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        s = self._state
        lines = [f"**{s.phase.value}** · attempt {s.attempt}"]
        if s.pod:
            lines.append(f"pod `{s.pod}` ({s.pod_phase or 'Pending'})")
        if s.reason:
            lines.append(f"{s.reason}: {s.message or ''}".strip())
        if s.branch:
            lines.append(f"branch `{s.branch}`")
        if s.pull_request_url:
            lines.append(f"PR {s.pull_request_url}")
        trace = trace_id()
        if trace:
            lines.append(f"trace `{trace}`")
        return "\n\n".join(lines)
