"""Every branch of PolecatWorkflow in seconds: the real workflow code on the time-skipping
test server, its activities played by the doubles in tests/workflows/doubles.py.

Each test scripts what the activities do, runs one polecat and asserts the workflow's result,
its `status` query, what it asked the activities for (pods per attempt, deletions, status
writes with their phases, reasons and Events), its search attributes and memo, and the pod's
deletion time it leaves behind. Durable timers (the back-off between attempts) pass on the
test server's clock while a test awaits a result, so no test waits for them; the pods' real
behaviour stays covered by tests/e2e.

Recording the replay histories: several tests write their workflow's history to
tests/replay/histories/<name>.json when GASTOWN_RECORD_HISTORY=1 (default: nothing is
written); tests/replay replays every file there against today's workflow code. After an
intentional (versioned) change to the workflow's commands, re-record them with

    GASTOWN_RECORD_HISTORY=1 .venv/bin/pytest tests/workflows -q

and commit the changed files with the change (polecat_happy_path.json comes from a real pod:
see tests/replay/test_replay.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError

from gastown.api.identity import pod_name, polecat_workflow_id
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    AttemptResult,
    DeletePod,
    NukeRequest,
    PodDeletion,
    PodObservation,
    PolecatResult,
    PolecatState,
    StatusUpdate,
)
from gastown.workflows.polecat import AUTH_HINT, PolecatWorkflow
from tests.workflows import doubles as d
from tests.workflows.doubles import DEADLINE, Hold, Script
from tests.workflows.harness import Handle, Harness, HarnessFactory

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- helpers
async def result_of(handle: Handle) -> PolecatResult:
    """The workflow's result; the test server skips durable timers while this waits."""
    return await asyncio.wait_for(handle.result(), DEADLINE)


async def failure_of(handle: Handle) -> BaseException:
    with pytest.raises(WorkflowFailureError) as info:
        await result_of(handle)
    assert info.value.cause is not None
    return info.value.cause


async def history(handle: Handle) -> list[HistoryEvent]:
    return [event async for event in handle.fetch_history_events()]


def kinds(events: list[HistoryEvent]) -> list[str]:
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]


async def status(handle: Handle) -> PolecatState:
    """The `status` query. The server answers it after any workflow task already due (a
    strongly consistent query, as Temporal's own server does), so it sees every signal
    sent before it."""
    return await handle.query(PolecatWorkflow.status)


async def phase_attribute(handle: Handle) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(c.SA_PHASE)


async def memo(handle: Handle) -> dict[str, Any]:
    return await (await handle.describe()).memo()


def final_write(h: Harness) -> StatusUpdate:
    writes = [w for w in h.doubles.statuses() if w.finished]
    assert len(writes) == 1, h.doubles.statuses()
    return writes[0]


def no_deletion_scheduled(h: Harness) -> bool:
    return c.SCHEDULE_POD_DELETION not in h.doubles.names()


# ---------------------------------------------------------------- done
async def test_done_on_the_first_attempt(harness: HarnessFactory) -> None:
    name = "done"
    inp = d.polecat_input(name)
    script = Script(d.resolved(name), waits=[d.finished(Outcome.COMPLETED)])
    async with harness(script) as h:
        handle = await h.start(inp)
        result = await result_of(handle)

        pod = pod_name(name, 1)
        assert result == PolecatResult(
            phase=PolecatPhase.DONE,
            outcome=Outcome.COMPLETED,
            reason="Completed",
            message="completed",
            attempts=1,
            pod=pod,
            branch=d.BRANCH,
            commit=d.COMMIT,
            pull_request_url=d.PR_URL,
            agent_cost_usd=d.COST,
        )
        assert h.doubles.names() == [*d.START, *d.LAUNCH, c.WAIT_POD, *d.FINISH, *d.LEAVE_POD]
        [ensure] = h.doubles.args(c.ENSURE_POLECAT)
        assert ensure.workflow_id == polecat_workflow_id(d.NAMESPACE, name)
        assert ensure.run_id == handle.result_run_id
        [launch] = h.doubles.args(c.LAUNCH_POD)
        assert (launch.attempt, launch.polecat.uid) == (1, "cr-uid")
        [wait] = h.doubles.args(c.WAIT_POD)
        assert (wait.pod.name, wait.pod.attempt, wait.polecat) == (pod, 1, name)
        assert wait.pending_timeout_seconds == script.resolved.pending_timeout_seconds
        write = final_write(h)
        assert (write.phase, write.reason, write.outcome) == (
            PolecatPhase.DONE,
            "Completed",
            Outcome.COMPLETED,
        )
        assert (write.pod_name, write.attempt, write.event_type) == (pod, 1, "Normal")
        assert (write.branch, write.commit, write.pull_request_url) == (
            d.BRANCH,
            d.COMMIT,
            d.PR_URL,
        )
        assert write.workflow_id == polecat_workflow_id(d.NAMESPACE, name)
        assert write.agent_cost_usd == d.COST
        assert h.doubles.args(c.DELETE_POD) == []  # the watcher deletes it, after its TTL

        state = await status(handle)
        assert (state.phase, state.attempt, state.pod, state.outcome) == (
            PolecatPhase.DONE,
            1,
            pod,
            Outcome.COMPLETED,
        )
        assert (state.branch, state.pull_request_url) == (d.BRANCH, d.PR_URL)
        attrs = (await handle.describe()).typed_search_attributes
        assert (attrs.get(c.SA_PHASE), attrs.get(c.SA_RIG)) == ("Done", d.RIG)
        assert (attrs.get(c.SA_BEAD), attrs.get(c.SA_POLECAT)) == (d.BEAD, name)
        assert attrs.get(c.SA_CONVOY) is None
        assert await memo(handle) == {
            "pod": pod,
            "attempt": 1,
            "phase": "Done",
            "outcome": "completed",
            "branch": d.BRANCH,
            "pr": d.PR_URL,
            "commit": d.COMMIT,
        }
        await h.record(handle, "polecat_done")


# ---------------------------------------------------------------- retries
async def test_transient_failure_is_retried_after_the_backoff_then_done(
    harness: HarnessFactory,
) -> None:
    name = "retried"
    script = Script(
        d.resolved(name, backoff_seconds=45),
        waits=[d.transient("Evicted", "node ran out of memory"), d.finished(Outcome.COMPLETED)],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        result = await result_of(handle)

        assert (result.phase, result.attempts, result.pod) == (
            PolecatPhase.DONE,
            2,
            pod_name(name, 2),
        )
        assert h.doubles.names() == [
            *d.START,
            *d.LAUNCH,
            c.WAIT_POD,
            c.UPDATE_STATUS,
            *d.LAUNCH,
            c.WAIT_POD,
            *d.FINISH,
            *d.LEAVE_POD,
        ]
        assert [x.attempt for x in h.doubles.args(c.LAUNCH_POD)] == [1, 2]
        assert [x.pod.name for x in h.doubles.args(c.WAIT_POD)] == [
            pod_name(name, 1),
            pod_name(name, 2),
        ]
        retrying, done = h.doubles.statuses()
        assert (retrying.phase, retrying.reason, retrying.event_type) == (
            PolecatPhase.PENDING,
            "Retrying",
            "Warning",
        )
        assert (retrying.attempt, retrying.pod_name, retrying.finished) == (
            1,
            pod_name(name, 1),
            False,
        )
        assert retrying.message == (
            "attempt 1 failed (Evicted: node ran out of memory); attempt 2 in 45s"
        )
        assert (done.phase, done.attempt, done.pod_name) == (
            PolecatPhase.DONE,
            2,
            pod_name(name, 2),
        )
        # The back-off is a durable timer of backoff_seconds, which fired (on the skipped clock).
        events = await history(handle)
        [timer] = [
            e.timer_started_event_attributes
            for e in events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        ]
        assert timer.start_to_fire_timeout.ToTimedelta() == timedelta(seconds=45)
        assert "TIMER_FIRED" in kinds(events)
        state = await status(handle)
        assert (state.phase, state.attempt, state.pod) == (PolecatPhase.DONE, 2, pod_name(name, 2))
        assert (await memo(handle))["attempt"] == 2
        await h.record(handle, "polecat_retried_then_done")


async def test_every_attempt_transient_fails(harness: HarnessFactory) -> None:
    name = "all-transient"
    script = Script(
        d.resolved(name, max_attempts=2),
        waits=[d.transient(), d.transient("Unschedulable", "0/1 nodes available")],
    )
    async with harness(script) as h:
        result = await result_of(await h.start(d.polecat_input(name)))

        assert (result.phase, result.outcome, result.reason, result.attempts) == (
            PolecatPhase.FAILED,
            Outcome.POD_FAILED,
            "Unschedulable",
            2,
        )
        assert result.message == "0/1 nodes available"
        assert [x.attempt for x in h.doubles.args(c.LAUNCH_POD)] == [1, 2]
        # One Retrying between the attempts, none after the last.
        assert [(w.reason, w.phase) for w in h.doubles.statuses()] == [
            ("Retrying", PolecatPhase.PENDING),
            ("Unschedulable", PolecatPhase.FAILED),
        ]
        assert final_write(h).event_type == "Warning"


async def test_terminal_verdict_is_not_retried(harness: HarnessFactory) -> None:
    name = "terminal"
    script = Script(d.resolved(name, max_attempts=3), waits=[d.terminal()])
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        result = await result_of(handle)

        assert (result.phase, result.outcome, result.reason, result.attempts) == (
            PolecatPhase.FAILED,
            Outcome.POD_FAILED,
            "InvalidImageName",
            1,
        )
        assert h.doubles.names() == [*d.START, *d.LAUNCH, c.WAIT_POD, *d.FINISH, *d.LEAVE_POD]
        write = final_write(h)
        assert (write.phase, write.outcome, write.message) == (
            PolecatPhase.FAILED,
            Outcome.POD_FAILED,
            "bad image ref",
        )
        assert await phase_attribute(handle) == "Failed"


# ---------------------------------------------------------------- what the runtime reported
@pytest.mark.parametrize(
    ("outcome", "phase", "reason"),
    [
        (Outcome.COMPLETED, PolecatPhase.DONE, "Completed"),
        (Outcome.NO_CHANGES, PolecatPhase.DONE, "NoChanges"),
        (Outcome.STUCK, PolecatPhase.STUCK, "Stuck"),
        (Outcome.AGENT_FAILED, PolecatPhase.FAILED, "AgentFailed"),
        (Outcome.PUSH_FAILED, PolecatPhase.FAILED, "PushFailed"),
        (Outcome.CLONE_FAILED, PolecatPhase.FAILED, "CloneFailed"),
        (Outcome.POD_FAILED, PolecatPhase.FAILED, "PodFailed"),
    ],
    ids=lambda v: v.value if isinstance(v, Outcome) else None,
)
async def test_finished_outcome_sets_the_phase(
    harness: HarnessFactory, outcome: Outcome, phase: PolecatPhase, reason: str
) -> None:
    name = f"out-{outcome.value.replace('_', '-')}"
    script = Script(d.resolved(name), waits=[d.finished(outcome, message=f"{reason} detail")])
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        result = await result_of(handle)

        assert (result.phase, result.outcome, result.reason, result.attempts) == (
            phase,
            outcome,
            reason,
            1,
        )
        assert result.message == f"{reason} detail"
        write = final_write(h)
        assert (write.phase, write.outcome, write.reason) == (phase, outcome, reason)
        assert write.event_type == ("Normal" if phase == PolecatPhase.DONE else "Warning")
        assert len(h.doubles.args(c.LAUNCH_POD)) == 1  # a finished pod is never retried
        assert (await status(handle)).phase == phase
        assert await phase_attribute(handle) == phase.value
        assert (await memo(handle))["outcome"] == outcome.value


async def test_auth_expired_twice_fails_with_the_auth_hint(harness: HarnessFactory) -> None:
    """A pod that finds its token refused gets one more attempt with fresh credentials (the
    gate never hands out the refused version again); a second refusal ends it, no loop."""
    name = "auth-expired"
    refused = d.finished(Outcome.AUTH_EXPIRED, message="the model API refused the token")
    script = Script(
        d.resolved(name, max_attempts=1),
        waits=[refused, refused],
        grants=[d.ready("1"), d.ready("2")],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        result = await result_of(handle)

        assert (result.phase, result.outcome, result.reason, result.attempts) == (
            PolecatPhase.FAILED,
            Outcome.AUTH_EXPIRED,
            "AuthExpired",
            2,
        )
        assert result.message == f"the model API refused the token; {AUTH_HINT}"
        assert h.doubles.names() == [
            *d.START,
            *d.LAUNCH,
            c.WAIT_POD,
            c.UPDATE_STATUS,  # AuthExpired: trying once more
            c.SCHEDULE_POD_DELETION,  # the refused pod, after its TTL
            *d.GATED_LAUNCH,  # never the refused token again
            c.WAIT_POD,
            *d.FINISH,
            *d.LEAVE_POD,
        ]
        # The gate before the extra attempt asks for anything but the refused version.
        assert [x.rejected_version for x in h.doubles.args(c.ISSUE_POD_TOKEN)] == [None, "1"]
        assert [x.attempt for x in h.doubles.args(c.LAUNCH_POD)] == [1, 2]
        assert [(x.name, x.ttl_seconds) for x in h.doubles.args(c.SCHEDULE_POD_DELETION)] == [
            (pod_name(name, 1), script.resolved.failed_pod_ttl_seconds),
            (pod_name(name, 2), script.resolved.failed_pod_ttl_seconds),
        ]
        retry, final = h.doubles.statuses()
        assert (retry.phase, retry.reason, retry.event_type) == (
            PolecatPhase.PENDING,
            "AuthExpired",
            "Warning",
        )
        assert final == final_write(h)
        assert final.message == result.message
        assert (await status(handle)).message == result.message
        assert await phase_attribute(handle) == "Failed"
        await h.record(handle, "polecat_auth_expired")


# ---------------------------------------------------------------- nuke
async def test_nuke_while_waiting_cancels_the_wait_and_deletes_the_pod(
    harness: HarnessFactory,
) -> None:
    name = "nuked-waiting"
    running = Hold()
    script = Script(d.resolved(name), waits=[running])
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(lambda: h.doubles.names()[-1:] == [c.WAIT_POD])
        assert (await status(handle)).phase == PolecatPhase.PENDING

        state = await asyncio.wait_for(
            handle.execute_update(PolecatWorkflow.nuke, NukeRequest(reason="wrong bead")), DEADLINE
        )
        # The Update answers with the final state, once the polecat is Terminated.
        assert (state.phase, state.outcome, state.reason, state.message) == (
            PolecatPhase.TERMINATED,
            Outcome.TERMINATED,
            "Nuked",
            "wrong bead",
        )
        result = await result_of(handle)
        assert (result.phase, result.reason, result.attempts, result.pod) == (
            PolecatPhase.TERMINATED,
            "Nuked",
            1,
            pod_name(name, 1),
        )
        await h.doubles.until(lambda: h.doubles.cancelled_waits == [1])
        assert h.doubles.args(c.DELETE_POD) == [
            DeletePod(namespace=d.NAMESPACE, name=pod_name(name, 1), uid="pod-uid-1")
        ]
        assert h.doubles.names()[-4:] == [c.DELETE_POD, *d.FINISH]
        write = final_write(h)
        assert (write.phase, write.outcome, write.reason, write.message) == (
            PolecatPhase.TERMINATED,
            Outcome.TERMINATED,
            "Nuked",
            "wrong bead",
        )
        assert write.event_type == "Warning"
        assert "ACTIVITY_TASK_CANCEL_REQUESTED" in kinds(await history(handle))
        assert no_deletion_scheduled(h)  # the pod is already deleted
        assert await phase_attribute(handle) == "Terminated"
        assert (await memo(handle))["phase"] == "Terminated"
        await h.record(handle, "polecat_nuked_while_waiting")


async def test_nuke_during_the_backoff_ends_without_another_attempt(
    harness: HarnessFactory,
) -> None:
    name = "nuked-backoff"
    script = Script(
        d.resolved(name, backoff_seconds=600),
        waits=[d.transient(), d.finished(Outcome.COMPLETED)],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await h.doubles.until(lambda: any(w.reason == "Retrying" for w in h.doubles.statuses()))
        # The clock stands still until a result is awaited: the 600 s back-off is running.
        state = await asyncio.wait_for(
            handle.execute_update(PolecatWorkflow.nuke, NukeRequest()), DEADLINE
        )
        assert (state.phase, state.reason, state.message) == (
            PolecatPhase.TERMINATED,
            "Nuked",
            "nuked by user",
        )
        result = await result_of(handle)

        assert (result.phase, result.attempts, result.pod) == (
            PolecatPhase.TERMINATED,
            1,
            pod_name(name, 1),
        )
        assert [x.attempt for x in h.doubles.args(c.LAUNCH_POD)] == [1]
        assert h.doubles.args(c.DELETE_POD) == [
            DeletePod(namespace=d.NAMESPACE, name=pod_name(name, 1), uid="pod-uid-1")
        ]
        assert [w.reason for w in h.doubles.statuses()] == ["Retrying", "Nuked"]
        events = kinds(await history(handle))
        assert "TIMER_STARTED" in events
        assert "TIMER_FIRED" not in events  # the nuke cut the back-off short
        assert no_deletion_scheduled(h)
        await h.record(handle, "polecat_nuked_in_backoff")


async def test_nuke_before_the_first_pod_ends_without_a_pod(harness: HarnessFactory) -> None:
    name = "nuked-early"
    creating = Hold()
    script = Script(d.resolved(name), waits=[d.finished(Outcome.COMPLETED)], ensure=creating)
    async with harness(script) as h:
        # A short workflow task timeout: the worker heartbeats the task that holds the CR's
        # creation after 80% of it, which lets the Update in while the creation is pending.
        handle = await h.start(d.polecat_input(name), task_timeout=timedelta(seconds=1))
        await h.doubles.until(lambda: c.ENSURE_POLECAT in h.doubles.names())
        nuke = await asyncio.wait_for(
            handle.start_update(
                PolecatWorkflow.nuke,
                NukeRequest(reason="changed my mind"),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            ),
            DEADLINE,
        )
        creating.release()
        state = await asyncio.wait_for(nuke.result(), DEADLINE)
        result = await result_of(handle)

        assert (state.phase, state.message) == (PolecatPhase.TERMINATED, "changed my mind")
        assert (result.phase, result.attempts, result.pod) == (PolecatPhase.TERMINATED, 0, None)
        # Nuked before it asked for a slot: it asks for none, and there is no pod to delete.
        assert h.doubles.names() == [*d.START[:3], c.UPDATE_STATUS, c.REVOKE_POD_TOKEN]
        write = final_write(h)
        assert (write.phase, write.reason, write.pod_name) == (
            PolecatPhase.TERMINATED,
            "Nuked",
            None,
        )
        assert no_deletion_scheduled(h)


async def test_nuke_is_refused_once_the_polecat_finished(harness: HarnessFactory) -> None:
    name = "nuke-late"
    final = Hold()
    script = Script(d.resolved(name), waits=[d.finished(Outcome.COMPLETED)], final_status=final)
    async with harness(script) as h:
        # A short workflow task timeout: the worker heartbeats the task that holds the final
        # status write after 80% of it, which lets the Update in while the write is pending.
        handle = await h.start(d.polecat_input(name), task_timeout=timedelta(seconds=1))
        await h.doubles.until(lambda: any(w.finished for w in h.doubles.statuses()))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(
                handle.execute_update(PolecatWorkflow.nuke, NukeRequest()), DEADLINE
            )
        assert isinstance(refused.value.cause, ApplicationError)
        assert "the polecat already finished (Done)" in refused.value.cause.message
        final.release()
        result = await result_of(handle)

        assert result.phase == PolecatPhase.DONE
        assert h.doubles.args(c.DELETE_POD) == []
        assert [w.phase for w in h.doubles.statuses()] == [PolecatPhase.DONE]


# ---------------------------------------------------------------- failure before start
@pytest.mark.parametrize(
    ("step", "kind"),
    [
        (c.RESOLVE_POLECAT, c.RIG_NOT_FOUND),
        (c.RESOLVE_POLECAT, c.INVALID_SPEC),
        (c.RESOLVE_POLECAT, c.NAMESPACE_NOT_SERVED),
        (c.RESOLVE_POLECAT, c.POLECAT_GONE),
        (c.CHECK_CREDENTIALS, c.MISSING_SECRET),
    ],
    ids=lambda v: str(v),
)
async def test_failure_before_start(harness: HarnessFactory, step: str, kind: str) -> None:
    name = f"early-{kind.lower()}"
    error = d.permanent(kind, f"{kind} message")
    script = Script(
        d.resolved(name),
        resolve_error=error if step == c.RESOLVE_POLECAT else None,
        credentials_error=error if step == c.CHECK_CREDENTIALS else None,
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        cause = await failure_of(handle)

        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.non_retryable) == (kind, True)
        assert cause.message == f"{kind}: {kind} message"
        # Permanent errors are not retried, and nothing is created.
        asked = h.doubles.names()
        assert asked[: asked.index(step) + 1] == list(d.START[: d.START.index(step) + 1])
        assert asked.count(step) == 1
        assert c.ENSURE_POLECAT not in asked and c.LAUNCH_POD not in asked
        assert c.REQUEST_SLOT not in asked
        # The CR says why, where the user looks; unless it is gone (nothing to write to).
        writes = h.doubles.statuses()
        if kind == c.POLECAT_GONE:
            assert writes == []
        else:
            [write] = writes
            assert (write.phase, write.reason, write.message) == (
                PolecatPhase.FAILED,
                kind,
                f"{kind} message",
            )
            assert (write.finished, write.event_type) == (True, "Warning")
            assert write.workflow_id == polecat_workflow_id(d.NAMESPACE, name)
            # `sling --wait` follows this run by its ID: the write must carry it.
            assert write.run_id == (await handle.describe()).run_id
        state = await status(handle)
        assert (state.phase, state.reason, state.attempt) == (PolecatPhase.FAILED, kind, 0)
        if step == c.CHECK_CREDENTIALS:  # resolved: the polecat's identity is searchable
            assert await phase_attribute(handle) == "Failed"
        if kind == c.MISSING_SECRET:
            await h.record(handle, "polecat_failed_before_start")


async def test_launch_refused_fails_the_workflow(harness: HarnessFactory) -> None:
    name = "launch-refused"
    script = Script(
        d.resolved(name),
        waits=[d.finished(Outcome.COMPLETED)],
        launch_error=d.permanent(c.POD_CONFLICT, "pod exists but was not created by us"),
    )
    async with harness(script) as h:
        cause = await failure_of(await h.start(d.polecat_input(name)))

        assert isinstance(cause, ApplicationError)
        assert cause.type == c.POD_CONFLICT
        # Non-retryable: asked once; the slot is given back and the CR says why.
        assert h.doubles.names() == [
            *d.START,
            *d.LAUNCH,
            c.RELEASE_SLOT,
            c.REVOKE_POD_TOKEN,
            c.UPDATE_STATUS,
        ]
        write = final_write(h)
        assert (write.phase, write.reason) == (PolecatPhase.FAILED, c.POD_CONFLICT)
        assert "pod exists but was not created by us" in write.message


# ---------------------------------------------------------------- pod observations
async def test_pod_observed_signals_update_the_query_and_stale_ones_are_ignored(
    harness: HarnessFactory,
) -> None:
    name = "observed"
    second = Hold()
    script = Script(d.resolved(name), waits=[d.transient(), second])
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        # Awaiting the result lets the back-off pass; attempt 2's wait then holds the clock.
        finishing = asyncio.create_task(result_of(handle))
        try:
            await observations(h, handle, second)
            result = await finishing
        finally:
            finishing.cancel()
        assert (result.phase, result.attempts) == (PolecatPhase.DONE, 2)


async def observations(h: Harness, handle: Handle, second: Hold) -> None:
    """Attempt 2's pod changes, and a late one of attempt 1's, while attempt 2 waits."""
    await h.doubles.until(lambda: len(h.doubles.args(c.WAIT_POD)) == 2)
    [_, wait2] = h.doubles.args(c.WAIT_POD)
    pod1, pod2 = pod_name(wait2.polecat, 1), wait2.pod.name

    async def observe(obs: PodObservation) -> PolecatState:
        await handle.signal(PolecatWorkflow.pod_observed, obs)
        return await status(handle)

    state = await observe(PodObservation(pod=pod2, attempt=2, phase="Pending", reason="Pull"))
    assert (state.phase, state.attempt, state.pod) == (PolecatPhase.PENDING, 2, pod2)
    assert (state.pod_phase, state.reason) == ("Pending", "Pull")

    # A late observation of attempt 1's pod (the watcher lagging) changes nothing: had it
    # counted, its Running would have made the polecat Working.
    late = PodObservation(pod=pod1, attempt=1, phase="Running", reason="Late", message="x")
    assert await observe(late) == state
    assert await phase_attribute(handle) == "Pending"

    state = await observe(PodObservation(pod=pod2, attempt=2, phase="Running", ready=True))
    assert (state.phase, state.pod_phase, state.reason) == (PolecatPhase.WORKING, "Running", None)
    assert await phase_attribute(handle) == "Working"

    second.release(d.finished(Outcome.COMPLETED))


# ---------------------------------------------------------------- the pod's deletion
@pytest.mark.parametrize(
    ("name", "verdict", "ttl_field"),
    [
        ("ttl-done", d.finished(Outcome.COMPLETED), "succeeded_pod_ttl_seconds"),
        ("ttl-stuck", d.finished(Outcome.STUCK), "failed_pod_ttl_seconds"),
        ("ttl-failed", d.terminal(), "failed_pod_ttl_seconds"),
    ],
    ids=["done", "stuck", "failed"],
)
async def test_the_pods_deletion_is_scheduled_with_the_phase_ttl(
    harness: HarnessFactory, name: str, verdict: AttemptResult, ttl_field: str
) -> None:
    script = Script(
        d.resolved(name, succeeded_pod_ttl_seconds=300, failed_pod_ttl_seconds=7200),
        waits=[verdict],
    )
    async with harness(script) as h:
        handle = await h.start(d.polecat_input(name))
        await result_of(handle)

        [call] = [x for x in h.doubles.calls if x.name == c.SCHEDULE_POD_DELETION]
        assert call.local
        assert call.arg == PodDeletion(
            namespace=d.NAMESPACE,
            name=pod_name(name, 1),
            uid="pod-uid-1",
            ttl_seconds=getattr(script.resolved, ttl_field),
        )
        # Nothing is left running for the pod: no child workflow, no timer.
        events = kinds(await history(handle))
        assert "START_CHILD_WORKFLOW_EXECUTION_INITIATED" not in events
        assert "TIMER_STARTED" not in events
