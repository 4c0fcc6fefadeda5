"""PolecatWorkflow's credentials gate on the time-skipping test server: park, resume, give up,
a nuke while parked, the keeper's refresh (answered and refused), register-then-look-again.

issue_pod_token is scripted look by look (`Script.grants`); the credentials Secret's workflow
is played by the test itself, which answers by the signal that workflow sends
(`credentials_changed`), as the real one would. The tests wait on recorded calls, never sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from gastown.api.convoy import BeadPhase, ConvoyPhase
from gastown.api.identity import polecat_workflow_id
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.workflows import contract as c
from gastown.workflows.convoy import ConvoyWorkflow
from gastown.workflows.messages import (
    AttemptResult,
    ConvoyProgress,
    CredentialsChanged,
    NukeRequest,
    PolecatReport,
    PolecatResult,
    Resolved,
    StatusUpdate,
)
from gastown.workflows.polecat import PolecatWorkflow
from tests.workflows import doubles as d
from tests.workflows.doubles import DEADLINE, Hold, Script
from tests.workflows.harness import Handle, Harness, HarnessFactory

pytestmark = pytest.mark.timeout(60)

HINT = "kubectl gt auth sync --force"


async def result_of(handle: Handle) -> PolecatResult:
    return await asyncio.wait_for(handle.result(), DEADLINE)


async def details(handle: Handle) -> str:
    """What the Temporal UI shows as the workflow's current details."""
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


async def phase_attribute(handle: Handle) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(c.SA_PHASE)


def waiting(h: Harness) -> list[StatusUpdate]:
    return [w for w in h.doubles.statuses() if w.phase == PolecatPhase.WAITING_FOR_CREDENTIALS]


async def parked(h: Harness, looks: int = 2) -> None:
    """Until the polecat parked, registered and looked again (`looks` looks in all)."""
    await h.doubles.until(
        lambda: (
            bool(waiting(h))
            and c.ASK_CREDENTIALS in h.doubles.names()
            and h.doubles.names().count(c.ISSUE_POD_TOKEN) >= looks
        )
    )


async def test_parks_then_resumes_when_the_credentials_change(harness: HarnessFactory) -> None:
    name = "parked"
    script = Script(d.resolved(name), waits=[d.finished(Outcome.COMPLETED)], grants=[d.park("1")])
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await parked(h)

        # Where the user looks: the CR (reason, the next step, a Warning Event), the query,
        # the Temporal UI's details and GastownPhase; no slot asked for, no pod.
        [write] = waiting(h)
        assert (write.reason, write.event_type) == (c.CREDENTIALS_EXPIRED, "Warning")
        assert write.attempt == 0  # before the slot: no attempt yet
        assert HINT in write.message
        state = await handle.query(PolecatWorkflow.status)
        assert (state.phase, state.reason) == (
            PolecatPhase.WAITING_FOR_CREDENTIALS,
            c.CREDENTIALS_EXPIRED,
        )
        assert HINT in (state.message or "")
        shown = await details(handle)
        assert "**WaitingForCredentials**" in shown and HINT in shown
        assert await phase_attribute(handle) == "WaitingForCredentials"
        assert c.REQUEST_SLOT not in h.doubles.names()
        assert c.LAUNCH_POD not in h.doubles.names()
        # Registered once, for the version it saw; no refresh asked (replica).
        [ask] = h.doubles.args(c.ASK_CREDENTIALS)
        assert (ask.namespace, ask.secret) == (d.NAMESPACE, d.CREDS)
        assert ask.wanted.workflow_id == polecat_workflow_id(d.NAMESPACE, name)
        assert (ask.wanted.seen_version, ask.wanted.refresh) == ("1", False)

        # `auth sync --force`: the Secret moves to version 2, its workflow signals.
        script.grants[:] = [d.ready("2")]
        await handle.signal(PolecatWorkflow.credentials_changed, CredentialsChanged(version="2"))
        result = await result_of(handle)

        assert (result.phase, result.attempts) == (PolecatPhase.DONE, 1)
        assert h.doubles.names() == [
            c.RESOLVE_POLECAT,
            c.CHECK_CREDENTIALS,
            c.ENSURE_POLECAT,
            c.ISSUE_POD_TOKEN,
            c.UPDATE_STATUS,  # WaitingForCredentials
            c.ASK_CREDENTIALS,
            c.ISSUE_POD_TOKEN,  # looked again at once
            c.ISSUE_POD_TOKEN,  # after the signal
            c.UPDATE_STATUS,  # Pending again
            c.REQUEST_SLOT,
            *d.LAUNCH,
            c.WAIT_POD,
            *d.FINISH,
            *d.LEAVE_POD,
        ]
        assert [(w.phase, w.reason, w.event_type) for w in h.doubles.statuses()] == [
            (PolecatPhase.WAITING_FOR_CREDENTIALS, c.CREDENTIALS_EXPIRED, "Warning"),
            (PolecatPhase.PENDING, "CredentialsReady", "Normal"),
            (PolecatPhase.DONE, "Completed", "Normal"),
        ]
        assert len(h.doubles.args(c.ASK_CREDENTIALS)) == 1
        await h.record(handle, "polecat_parked_then_resumed")


async def test_register_then_look_again_picks_up_a_change_without_a_signal(
    harness: HarnessFactory,
) -> None:
    """The Secret changed between the first look and the registration: the second look sees
    it, so no signal is needed (the credentials workflow would not send one)."""
    name = "looked-again"
    script = Script(
        d.resolved(name),
        waits=[d.finished(Outcome.COMPLETED)],
        grants=[d.park("1"), d.ready("2")],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        result = await result_of(handle)

        assert result.phase == PolecatPhase.DONE
        assert h.doubles.names()[:10] == [
            c.RESOLVE_POLECAT,
            c.CHECK_CREDENTIALS,
            c.ENSURE_POLECAT,
            c.ISSUE_POD_TOKEN,
            c.UPDATE_STATUS,
            c.ASK_CREDENTIALS,
            c.ISSUE_POD_TOKEN,
            c.UPDATE_STATUS,
            c.REQUEST_SLOT,
            c.LAUNCH_POD,  # the second look's token lasts a whole pod: no third look
        ]
        assert [w.phase for w in h.doubles.statuses()] == [
            PolecatPhase.WAITING_FOR_CREDENTIALS,
            PolecatPhase.PENDING,
            PolecatPhase.DONE,
        ]
        events = [e async for e in handle.fetch_history_events()]
        signals = [
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        assert signals == [c.SIGNAL_SLOT_ANSWER]  # no credentials_changed was needed
        assert not any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)


async def test_gives_up_after_the_wait_time(harness: HarnessFactory) -> None:
    name = "gave-up"
    script = Script(
        d.resolved(name, credentials_wait_seconds=3600),
        waits=[d.finished(Outcome.COMPLETED)],
        grants=[d.park("1")],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        with pytest.raises(WorkflowFailureError) as info:
            await result_of(handle)

        cause = info.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.non_retryable) == (c.CREDENTIALS_UNAVAILABLE, True)
        assert HINT in cause.message and "after 1h" in cause.message
        final = [w for w in h.doubles.statuses() if w.finished]
        assert [(w.phase, w.reason, w.event_type) for w in final] == [
            (PolecatPhase.FAILED, c.CREDENTIALS_UNAVAILABLE, "Warning")
        ]
        assert HINT in final[0].message
        names = h.doubles.names()
        assert c.REQUEST_SLOT not in names and c.LAUNCH_POD not in names
        assert names[-2:] == [c.REVOKE_POD_TOKEN, c.UPDATE_STATUS]
        # Registered once; then a backstop re-look every 10 minutes until the hour was up.
        assert names.count(c.ASK_CREDENTIALS) == 1
        events = [e async for e in handle.fetch_history_events()]
        timers = [
            e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            for e in events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        ]
        assert len(timers) == 6
        assert timers[0] == timedelta(minutes=10)
        assert sum(timers, timedelta()) <= timedelta(hours=1)
        assert names.count(c.ISSUE_POD_TOKEN) == 1 + 1 + 5  # look, look again, 5 re-looks
        assert await phase_attribute(handle) == "Failed"
        await h.record(handle, "polecat_gave_up_waiting_for_credentials")


async def test_nuke_while_parked_ends_terminated_at_once(harness: HarnessFactory) -> None:
    name = "nuked-parked"
    script = Script(d.resolved(name), waits=[d.finished(Outcome.COMPLETED)], grants=[d.park()])
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await parked(h)
        state = await asyncio.wait_for(
            handle.execute_update(PolecatWorkflow.nuke, NukeRequest(reason="not today")), DEADLINE
        )
        assert (state.phase, state.reason, state.message) == (
            PolecatPhase.TERMINATED,
            "Nuked",
            "not today",
        )
        result = await result_of(handle)

        assert (result.phase, result.attempts, result.pod) == (PolecatPhase.TERMINATED, 0, None)
        names = h.doubles.names()
        assert c.REQUEST_SLOT not in names and c.LAUNCH_POD not in names
        assert names[-2:] == [c.UPDATE_STATUS, c.REVOKE_POD_TOKEN]
        assert [(w.phase, w.event_type) for w in h.doubles.statuses()] == [
            (PolecatPhase.WAITING_FOR_CREDENTIALS, "Warning"),
            (PolecatPhase.TERMINATED, "Warning"),
        ]
        events = [e async for e in handle.fetch_history_events()]
        assert not any(e.event_type == EventType.EVENT_TYPE_TIMER_FIRED for e in events)
        assert await phase_attribute(handle) == "Terminated"
        await h.record(handle, "polecat_nuked_while_parked")


async def test_keeper_refresh_is_asked_once_and_the_polecat_goes_on_after_the_answer(
    harness: HarnessFactory,
) -> None:
    name = "refreshed"
    running = Hold()
    script = Script(d.resolved(name), waits=[running], grants=[d.refresh("1")])
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(
            lambda: (
                c.ASK_CREDENTIALS in h.doubles.names()
                and h.doubles.names().count(c.ISSUE_POD_TOKEN) == 2
            )
        )
        [ask] = h.doubles.args(c.ASK_CREDENTIALS)
        assert (ask.wanted.refresh, ask.wanted.seen_version) == (True, "1")
        assert ask.wanted.valid_until is not None
        # Not parked: waiting for the keeper is a moment, not something to act on.
        assert waiting(h) == []
        assert (await handle.query(PolecatWorkflow.status)).reason == "RefreshingCredentials"

        script.grants[:] = [d.ready("2")]
        await handle.signal(
            PolecatWorkflow.credentials_changed, CredentialsChanged(version="2", refreshed=True)
        )
        await h.doubles.until(lambda: c.WAIT_POD in h.doubles.names())
        # On its way: the query no longer says it waits for the keeper.
        state = await handle.query(PolecatWorkflow.status)
        assert (state.phase, state.reason, state.message) == (PolecatPhase.PENDING, None, None)
        running.release(d.finished(Outcome.COMPLETED))
        result = await result_of(handle)

        assert result.phase == PolecatPhase.DONE
        assert h.doubles.names().count(c.ASK_CREDENTIALS) == 1
        assert [w.phase for w in h.doubles.statuses()] == [PolecatPhase.DONE]
        # A gated run's pod mounts the polecat's own Secret, which the gate wrote.
        [launch] = h.doubles.args(c.LAUNCH_POD)
        assert launch.pod_auth_secret == "polecat-refreshed-auth"
        await h.record(handle, "polecat_refreshed_by_the_keeper")


async def test_a_grant_that_would_not_last_a_pod_is_looked_at_again_before_the_pod(
    harness: HarnessFactory,
) -> None:
    """The token issued before the slot expires within the pod's deadline (a long wait in the
    rig's queue, a session near its end): the gate looks again before the pod, not after."""
    name = "short-lived"
    soon = datetime.now(UTC) + timedelta(minutes=30)  # the pod needs over an hour
    script = Script(
        d.resolved(name),
        waits=[d.finished(Outcome.COMPLETED)],
        grants=[d.ready("1").model_copy(update={"expires_at": soon}), d.ready("2")],
    )
    async with harness(script) as h:
        result = await result_of(await h.start(d.polecat_input(name)))

        assert result.phase == PolecatPhase.DONE
        assert h.doubles.names() == [*d.START, *d.GATED_LAUNCH, c.WAIT_POD, *d.FINISH,
                                     *d.LEAVE_POD]  # fmt: skip


async def test_a_rejected_refresh_parks_with_the_keepers_reason(harness: HarnessFactory) -> None:
    name = "refresh-rejected"
    script = Script(
        d.resolved(name), waits=[d.finished(Outcome.COMPLETED)], grants=[d.refresh("1")]
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(lambda: h.doubles.names().count(c.ISSUE_POD_TOKEN) == 2)
        why = "the token endpoint refused the refresh token: run `kubectl gt auth sync --handover`"
        await handle.signal(
            PolecatWorkflow.credentials_changed,
            CredentialsChanged(version="1", reason=c.REFRESH_REJECTED, message=why),
        )
        await h.doubles.until(
            lambda: bool(waiting(h)) and len(h.doubles.args(c.ASK_CREDENTIALS)) == 2
        )

        [write] = waiting(h)
        assert (write.reason, write.message, write.event_type) == (
            c.REFRESH_REJECTED,
            why,
            "Warning",
        )
        # The refresh is not asked again at that version: registered to wait for a change.
        first, second = h.doubles.args(c.ASK_CREDENTIALS)
        assert (first.wanted.refresh, second.wanted.refresh) == (True, False)
        assert second.wanted.seen_version == "1"
        assert (await handle.query(PolecatWorkflow.status)).phase == (
            PolecatPhase.WAITING_FOR_CREDENTIALS
        )

        script.grants[:] = [d.ready("2")]
        await handle.signal(PolecatWorkflow.credentials_changed, CredentialsChanged(version="2"))
        result = await result_of(handle)
        assert result.phase == PolecatPhase.DONE
        assert len(h.doubles.args(c.ASK_CREDENTIALS)) == 2


async def test_auth_expired_parks_at_the_refused_version_then_the_extra_attempt_succeeds(
    harness: HarnessFactory,
) -> None:
    name = "auth-retried"
    refused = d.finished(Outcome.AUTH_EXPIRED, message="the model API refused the token")
    script = Script(
        d.resolved(name, max_attempts=1),
        waits=[refused, d.finished(Outcome.COMPLETED)],
        grants=[d.ready("1"), d.park("1")],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await parked(h, looks=3)
        assert h.doubles.args(c.ISSUE_POD_TOKEN)[-1].rejected_version == "1"
        state = await handle.query(PolecatWorkflow.status)
        assert (state.phase, state.attempt) == (PolecatPhase.WAITING_FOR_CREDENTIALS, 1)

        script.grants[:] = [d.ready("2")]
        await handle.signal(PolecatWorkflow.credentials_changed, CredentialsChanged(version="2"))
        result = await result_of(handle)

        assert (result.phase, result.outcome, result.attempts) == (
            PolecatPhase.DONE,
            Outcome.COMPLETED,
            2,
        )
        assert [x.attempt for x in h.doubles.args(c.LAUNCH_POD)] == [1, 2]
        # Each write names its attempt (so each gate's Events are its own): the refused
        # pod's, then the one waiting for credentials, then the one that ran.
        assert [(w.phase, w.reason, w.attempt) for w in h.doubles.statuses()] == [
            (PolecatPhase.PENDING, "AuthExpired", 1),
            (PolecatPhase.WAITING_FOR_CREDENTIALS, c.CREDENTIALS_EXPIRED, 2),
            (PolecatPhase.PENDING, "CredentialsReady", 2),
            (PolecatPhase.DONE, "Completed", 2),
        ]


async def test_a_convoy_hears_its_polecat_park_and_resume(harness: HarnessFactory) -> None:
    """The real PolecatWorkflow under the real ConvoyWorkflow: parking and resuming are
    reported (as Queued is), the bead is never counted as failed, the convoy completes."""
    name = "wave-dm-1"
    others: dict[str, tuple[Resolved, Sequence[AttemptResult | Hold]]] = {
        name: (d.resolved(name, bead_id="dm-1", convoy="wave"), [d.finished(Outcome.COMPLETED)])
    }
    script = Script(
        d.resolved("unused"),
        convoy=d.resolved_convoy("wave", ["dm-1"]),
        others=others,
        grants=[d.park("1")],
    )
    async with harness(script) as h:
        handle = await h.start_convoy(d.convoy_input("wave"))
        await parked(h)

        async def bead_is(phase: PolecatPhase) -> ConvoyProgress:
            while True:
                progress = await handle.query(ConvoyWorkflow.progress)
                if progress.beads and progress.beads[0].polecat_phase == phase:
                    return progress
                await asyncio.sleep(0.02)

        progress = await asyncio.wait_for(bead_is(PolecatPhase.WAITING_FOR_CREDENTIALS), DEADLINE)
        assert (progress.counts.failed, progress.beads[0].phase) == (0, BeadPhase.DISPATCHED)

        script.grants[:] = [d.ready("2")]
        child = h.env.client.get_workflow_handle(polecat_workflow_id(d.NAMESPACE, name))
        await child.signal(PolecatWorkflow.credentials_changed, CredentialsChanged(version="2"))
        result = await asyncio.wait_for(handle.result(), DEADLINE)

        assert result.phase == ConvoyPhase.COMPLETE
        assert (result.counts.done, result.counts.failed) == (1, 0)
        events = [e async for e in handle.fetch_history_events()]
        reports = [
            pydantic_data_converter.payload_converter.from_payloads(
                e.workflow_execution_signaled_event_attributes.input.payloads, [PolecatReport]
            )[0]
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name
            == c.SIGNAL_POLECAT_REPORT
        ]
        assert [r.phase for r in reports] == [
            PolecatPhase.WAITING_FOR_CREDENTIALS,
            PolecatPhase.PENDING,
            PolecatPhase.DONE,
        ]


async def test_an_api_key_polecat_needs_no_token_of_its_own(harness: HarnessFactory) -> None:
    name = "api-key"
    script = Script(
        d.resolved(
            name,
            claude_creds_secret=None,
            api_key_secret={"name": "anthropic", "key": "api-key"},
        ),
        waits=[d.finished(Outcome.COMPLETED)],
        grants=[d.park()],  # would park, were it asked
    )
    async with harness(script) as h:
        result = await result_of(await h.start(d.polecat_input(name)))

        assert result.phase == PolecatPhase.DONE
        assert [x.pod_auth_secret for x in h.doubles.args(c.LAUNCH_POD)] == [None]
        assert h.doubles.names() == [
            c.RESOLVE_POLECAT,
            c.CHECK_CREDENTIALS,
            c.ENSURE_POLECAT,
            c.REQUEST_SLOT,
            c.LAUNCH_POD,
            c.WAIT_POD,
            c.UPDATE_STATUS,
            c.RELEASE_SLOT,
            *d.LEAVE_POD,
        ]


def asked(h: Harness) -> list[tuple[str | None, bool]]:
    return [(a.wanted.seen_version, a.wanted.refresh) for a in h.doubles.args(c.ASK_CREDENTIALS)]


async def test_a_refreshed_session_still_too_short_parks_instead_of_asking_again(
    harness: HarnessFactory,
) -> None:
    """The keeper refreshed to version 2 and the look still says REFRESH at 2: the endpoint
    issues shorter sessions than the pod needs. Asking again would rotate it for ever."""
    name = "too-short"
    script = Script(
        d.resolved(name), waits=[d.finished(Outcome.COMPLETED)], grants=[d.refresh("1")]
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(lambda: h.doubles.names().count(c.ISSUE_POD_TOKEN) == 2)
        script.grants[:] = [d.refresh("2")]
        await handle.signal(
            PolecatWorkflow.credentials_changed, CredentialsChanged(version="2", refreshed=True)
        )
        await h.doubles.until(lambda: bool(waiting(h)) and len(asked(h)) == 2)

        assert asked(h) == [("1", True), ("2", False)]  # registered to wait, no second refresh
        [write] = waiting(h)
        assert write.reason == c.CREDENTIALS_EXPIRED
        assert "the refreshed session" in write.message
        assert "less than the pod's deadline needs" in write.message
        assert HINT in write.message

        script.grants[:] = [d.ready("3")]
        await handle.signal(PolecatWorkflow.credentials_changed, CredentialsChanged(version="3"))
        result = await result_of(handle)
        assert result.phase == PolecatPhase.DONE
        assert [refresh for _, refresh in asked(h)].count(True) == 1


async def test_a_transient_refresh_failure_asks_again_after_five_minutes(
    harness: HarnessFactory,
) -> None:
    """The token endpoint was down (RefreshFailed): parked with the keeper's reason, then the
    refresh is asked for again at the same version, and the polecat goes on."""
    name = "refresh-failed"
    why = "the session could not be refreshed (503); the keeper tries again in a few minutes"
    script = Script(
        d.resolved(name),
        waits=[d.finished(Outcome.COMPLETED)],
        # look, look again, after the failure: look (park), look again; after 5 minutes:
        # look (ask the refresh again), look again (refreshed meanwhile).
        grants=[*[d.refresh("1")] * 5, d.ready("2")],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(lambda: h.doubles.names().count(c.ISSUE_POD_TOKEN) == 2)
        await handle.signal(
            PolecatWorkflow.credentials_changed,
            CredentialsChanged(version="1", reason="RefreshFailed", message=why),
        )
        await h.doubles.until(lambda: bool(waiting(h)) and len(asked(h)) == 2)
        [write] = waiting(h)
        assert (write.reason, write.event_type) == ("RefreshFailed", "Warning")
        assert write.message.startswith(why)
        result = await result_of(handle)  # the time skips

        assert result.phase == PolecatPhase.DONE
        assert asked(h) == [("1", True), ("1", False), ("1", True)]
        assert [(w.phase, w.reason) for w in h.doubles.statuses()] == [
            (PolecatPhase.WAITING_FOR_CREDENTIALS, "RefreshFailed"),
            (PolecatPhase.PENDING, "CredentialsReady"),
            (PolecatPhase.DONE, "Completed"),
        ]
        events = [e async for e in handle.fetch_history_events()]
        timers = [
            e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            for e in events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        ]
        assert timers[-1] <= timedelta(minutes=5)  # not the 10-minute backstop
        await h.record(handle, "polecat_refresh_failed_then_asked_again")


async def test_a_rejected_refresh_is_never_asked_again_at_that_version(
    harness: HarnessFactory,
) -> None:
    name = "rejected-for-good"
    script = Script(
        d.resolved(name, credentials_wait_seconds=3600),
        waits=[d.finished(Outcome.COMPLETED)],
        grants=[d.refresh("1")],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(lambda: h.doubles.names().count(c.ISSUE_POD_TOKEN) == 2)
        await handle.signal(
            PolecatWorkflow.credentials_changed,
            CredentialsChanged(version="1", reason=c.REFRESH_REJECTED, message="refused"),
        )
        with pytest.raises(WorkflowFailureError) as info:
            await result_of(handle)  # an hour of re-looks at version 1

        cause = info.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == c.CREDENTIALS_UNAVAILABLE
        assert asked(h) == [("1", True), ("1", False)]
        assert h.doubles.names().count(c.ISSUE_POD_TOKEN) > 4  # it did look again, often


async def test_a_second_gate_registers_again_at_the_version_the_first_registered_at(
    harness: HarnessFactory,
) -> None:
    """The Secret missing at both gates (version None): the second gate, before the pod,
    registers again (the first's waiter was answered) instead of waiting for the backstop."""
    name = "two-gates"
    missing = d.park(reason=c.MISSING_SECRET).model_copy(update={"version": None})
    soon = datetime.now(UTC) + timedelta(minutes=30)  # will not last the pod
    script = Script(
        d.resolved(name),
        waits=[d.finished(Outcome.COMPLETED)],
        grants=[missing, d.ready("1").model_copy(update={"expires_at": soon}), missing,
                d.ready("2")],
    )  # fmt: skip
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        result = await result_of(handle)

        assert result.phase == PolecatPhase.DONE
        assert asked(h) == [(None, False), (None, False)]
        events = [e async for e in handle.fetch_history_events()]
        assert not any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)


async def test_a_late_failure_for_an_older_version_does_not_stop_the_refresh_at_this_one(
    harness: HarnessFactory,
) -> None:
    """An answer about version 1 arriving while the polecat waits at version 2 is recorded
    against 1: the refresh asked at 2 still stands, nothing parks."""
    name = "late-answer"
    script = Script(
        d.resolved(name), waits=[d.finished(Outcome.COMPLETED)], grants=[d.refresh("2")]
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(lambda: h.doubles.names().count(c.ISSUE_POD_TOKEN) == 2)
        await handle.signal(
            PolecatWorkflow.credentials_changed,
            CredentialsChanged(version="1", reason=c.REFRESH_REJECTED, message="refused"),
        )
        await h.doubles.until(lambda: h.doubles.names().count(c.ISSUE_POD_TOKEN) == 3)
        state = await handle.query(PolecatWorkflow.status)
        assert (state.phase, state.reason) == (PolecatPhase.PENDING, "RefreshingCredentials")

        script.grants[:] = [d.ready("3")]
        await handle.signal(
            PolecatWorkflow.credentials_changed, CredentialsChanged(version="3", refreshed=True)
        )
        result = await result_of(handle)
        assert result.phase == PolecatPhase.DONE
        assert asked(h) == [("2", True)]
        assert waiting(h) == []
