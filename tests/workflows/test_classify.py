"""Every failure class of DESIGN.md, judged from pod JSON as the API server reports it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gastown.api.polecat import Outcome
from gastown.workflows.classify import PodJudge, observe, parse_result
from gastown.workflows.messages import Verdict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pod(
    phase: str = "Pending",
    *,
    reason: str | None = None,
    waiting: str | None = None,
    init_waiting: str | None = None,
    terminated: dict[str, Any] | None = None,
    init_terminated: dict[str, Any] | None = None,
    agent: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The pod's shape (activities/podspec.py): init containers git-init and claude (the
    agent), main container publish. `agent` is the state of the claude container."""
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if reason:
        status["reason"] = reason
    main: dict[str, Any] = {"name": "publish", "state": {}}
    init: dict[str, Any] = {"name": "git-init", "state": {}}
    claude: dict[str, Any] = {"name": "claude", "state": agent or {}}
    if waiting:
        main["state"] = {"waiting": {"reason": waiting, "message": f"{waiting} details"}}
    if terminated:
        main["state"] = {"terminated": terminated}
    if init_waiting:
        init["state"] = {"waiting": {"reason": init_waiting, "message": "init"}}
    if init_terminated:
        init["state"] = {"terminated": init_terminated}
    status["containerStatuses"] = [main]
    status["initContainerStatuses"] = [init, claude]
    return {
        "metadata": {"name": "polecat-furiosa-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": status,
    }


def judge(seconds: float = 0, p: dict[str, Any] | None = None, j: PodJudge | None = None) -> Any:
    j = j or PodJudge(pending_timeout_seconds=300, image_pull_grace_seconds=60)
    return j.judge(p or pod(), T0 + timedelta(seconds=seconds))


def result_message(**fields: Any) -> str:
    return json.dumps(fields)


def test_pending_and_running_pods_keep_waiting() -> None:
    assert judge(10, pod("Pending")) is None
    assert judge(10, pod("Running")) is None


def test_succeeded_pod_reports_the_runtime_result() -> None:
    msg = result_message(
        outcome="completed",
        branch="feature/dm-1",
        headCommit="abc",
        pushed=True,
        pullRequestURL="https://github.com/o/r/pull/1",
        agentTurns=3,
        agentCostUSD=0.5,
    )
    verdict = judge(
        5, pod("Succeeded", terminated={"exitCode": 0, "reason": "Completed", "message": msg})
    )
    assert verdict.verdict == Verdict.FINISHED
    assert verdict.outcome == Outcome.COMPLETED
    assert (verdict.branch, verdict.head_commit, verdict.pushed) == ("feature/dm-1", "abc", True)
    assert verdict.pull_request_url == "https://github.com/o/r/pull/1"
    assert (verdict.agent_turns, verdict.agent_cost_usd) == (3, 0.5)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, Outcome.COMPLETED),
        (10, Outcome.NO_CHANGES),
        (11, Outcome.AGENT_FAILED),
        (12, Outcome.AUTH_EXPIRED),
        (13, Outcome.STUCK),
        (14, Outcome.PUSH_FAILED),
    ],
)
def test_lost_termination_message_still_classifies_by_exit_code(
    code: int, outcome: Outcome
) -> None:
    phase = "Succeeded" if code == 0 else "Failed"
    verdict = judge(5, pod(phase, terminated={"exitCode": code, "reason": "Error"}))
    assert verdict.verdict == Verdict.FINISHED
    assert verdict.outcome == outcome


def test_garbage_message_falls_back_to_exit_code() -> None:
    assert parse_result("{not json", 11)["outcome"] == "agent_failed"
    assert parse_result('{"outcome": "bogus"}', 13)["outcome"] == "stuck"
    assert parse_result(None, 99)["outcome"] is None


def test_unknown_crash_is_a_pod_failure() -> None:
    verdict = judge(5, pod("Failed", terminated={"exitCode": 1, "reason": "Error"}))
    assert verdict.verdict == Verdict.FINISHED
    assert verdict.outcome == Outcome.POD_FAILED


def test_failed_clone_in_the_init_container() -> None:
    msg = result_message(outcome="clone_failed", errorClass="host_key_unknown", message="add it")
    verdict = judge(
        5, pod("Failed", init_terminated={"exitCode": 15, "reason": "Error", "message": msg})
    )
    assert verdict.outcome == Outcome.CLONE_FAILED
    assert verdict.error_class == "host_key_unknown"


@pytest.mark.parametrize(
    "reason", ["InvalidImageName", "CreateContainerConfigError", "ErrImageNeverPull"]
)
def test_terminal_waiting_reasons_fail_at_once(reason: str) -> None:
    verdict = judge(1, pod("Pending", waiting=reason))
    assert verdict.verdict == Verdict.TERMINAL
    assert verdict.reason == reason


def test_missing_secret_in_init_container_is_terminal() -> None:
    verdict = judge(1, pod("Pending", init_waiting="CreateContainerConfigError"))
    assert (verdict.verdict, verdict.reason) == (Verdict.TERMINAL, "CreateContainerConfigError")


def test_the_agents_failing_pull_counts_while_git_init_waits() -> None:
    """git-init runs the runtime image and claude the polecat's: the agent's pull failure is
    the news, not git-init's PodInitializing, so it gets the pull grace window."""
    j = PodJudge(pending_timeout_seconds=3, image_pull_grace_seconds=60)
    failing = {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}
    assert judge(10, pod("Pending", init_waiting="PodInitializing", agent=failing), j) is None
    assert j.pull_failing_since == T0 + timedelta(seconds=10)
    verdict = judge(70, pod("Pending", init_waiting="PodInitializing", agent=failing), j)
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, "ImagePullBackOff")


def test_image_pull_gets_a_grace_window_from_the_first_failure() -> None:
    j = PodJudge(pending_timeout_seconds=300, image_pull_grace_seconds=60)
    assert judge(10, pod("Pending", waiting="ErrImagePull"), j) is None
    assert judge(40, pod("Pending", waiting="ImagePullBackOff"), j) is None
    assert j.pull_failing_since == T0 + timedelta(seconds=10)
    verdict = judge(70, pod("Pending", waiting="ImagePullBackOff"), j)
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, "ImagePullBackOff")


def test_pending_timeout_waits_for_the_pull_grace_window() -> None:
    j = PodJudge(pending_timeout_seconds=5, image_pull_grace_seconds=60)
    assert judge(10, pod("Pending", waiting="ImagePullBackOff"), j) is None
    assert judge(30, pod("Pending", waiting="ImagePullBackOff"), j) is None
    assert judge(31, pod("Pending", waiting="ContainerCreating"), j) is None
    verdict = judge(36, pod("Pending", waiting="ContainerCreating"), j)
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, "PendingTimeout")


def test_pending_clock_restarts_when_a_pull_recovers() -> None:
    j = PodJudge(pending_timeout_seconds=5, image_pull_grace_seconds=60)
    assert judge(10, pod("Pending", waiting="ImagePullBackOff"), j) is None
    assert judge(40, pod("Pending", waiting="ContainerCreating"), j) is None
    assert judge(44, pod("Pending", waiting="ContainerCreating"), j) is None
    verdict = judge(45, pod("Pending", waiting="ContainerCreating"), j)
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, "PendingTimeout")


def test_image_pull_recovering_inside_the_window_resets_it() -> None:
    j = PodJudge(pending_timeout_seconds=300, image_pull_grace_seconds=60)
    assert judge(10, pod("Pending", waiting="ImagePullBackOff"), j) is None
    assert judge(50, pod("Running"), j) is None
    assert j.pull_failing_since is None


def test_unschedulable_past_the_pending_timeout() -> None:
    unschedulable = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: Insufficient cpu",
        }
    ]
    assert judge(299, pod("Pending", conditions=unschedulable)) is None
    verdict = judge(300, pod("Pending", conditions=unschedulable))
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, "Unschedulable")
    assert "Insufficient cpu" in verdict.message


def test_a_pod_running_its_init_container_is_not_stalled() -> None:
    cloning = pod("Pending", waiting="PodInitializing")
    cloning["status"]["initContainerStatuses"][0]["state"] = {"running": {}}
    assert judge(3600, cloning) is None


def test_generic_pending_timeout() -> None:
    verdict = judge(301, pod("Pending", waiting="ContainerCreating"))
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, "PendingTimeout")


def test_deadline_exceeded_is_terminal() -> None:
    verdict = judge(5, pod("Failed", reason="DeadlineExceeded"))
    assert (verdict.verdict, verdict.reason) == (Verdict.TERMINAL, "DeadlineExceeded")


def test_oom_killed_is_terminal() -> None:
    verdict = judge(5, pod("Failed", terminated={"exitCode": 137, "reason": "OOMKilled"}))
    assert (verdict.verdict, verdict.reason) == (Verdict.TERMINAL, "OOMKilled")


@pytest.mark.parametrize("reason", ["Evicted", "NodeLost"])
def test_eviction_and_node_loss_are_transient(reason: str) -> None:
    verdict = judge(5, pod("Failed", reason=reason))
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, reason)


def test_disruption_target_while_running_is_transient() -> None:
    cond = [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]
    verdict = judge(5, pod("Running", conditions=cond))
    assert (verdict.verdict, verdict.reason) == (Verdict.TRANSIENT, "EvictionByEvictionAPI")


def test_observe_reports_waiting_reason_and_readiness() -> None:
    obs = observe(pod("Pending", waiting="ImagePullBackOff"), attempt=2)
    assert (obs.phase, obs.reason, obs.attempt, obs.ready) == (
        "Pending",
        "ImagePullBackOff",
        2,
        False,
    )
    ready = observe(pod("Running", conditions=[{"type": "Ready", "status": "True"}]), 1)
    assert ready.ready


def test_a_finished_pod_carries_its_first_start_and_last_finish() -> None:
    """For the sling → pod and pod run histograms: the clone's start, the agent's end."""
    p = pod(
        "Succeeded",
        init_terminated={"exitCode": 0, "startedAt": "2026-01-01T00:00:04Z",
                         "finishedAt": "2026-01-01T00:00:06Z"},
        terminated={"exitCode": 0, "reason": "Completed", "startedAt": "2026-01-01T00:00:07Z",
                    "finishedAt": "2026-01-01T00:01:07Z",
                    "message": result_message(outcome="completed")},
    )  # fmt: skip
    verdict = judge(70, p)
    assert verdict.pod_started_at == T0 + timedelta(seconds=4)
    assert verdict.pod_finished_at == T0 + timedelta(seconds=67)
    # A pod without container times (or with unreadable ones) has none.
    bare = judge(5, pod("Succeeded", terminated={"exitCode": 0, "startedAt": "garbage"}))
    assert (bare.pod_started_at, bare.pod_finished_at) == (None, None)


def _agent_done(**terminated: Any) -> dict[str, Any]:
    return {"terminated": {"reason": "Completed", "exitCode": 0, **terminated}}


def test_a_pod_whose_agent_runs_is_working_not_stalled() -> None:
    """The agent is an init container: the pod stays Pending while it works, for longer than
    any pending timeout. That is progress: the workflow, status.pod and the CLI see Running,
    and the publisher's PodInitializing is no reason to show."""
    working = pod(
        "Pending",
        waiting="PodInitializing",
        init_terminated={"exitCode": 0, "reason": "Completed"},
        agent={"running": {"startedAt": "2026-01-01T00:00:05Z"}},
    )
    assert judge(3600, working) is None
    obs = observe(working, 1)
    assert (obs.phase, obs.reason, obs.message) == ("Running", None, None)
    # Between the agent's end and the publisher's start: still at work, no flapping back.
    handing_over = pod(
        "Pending",
        waiting="PodInitializing",
        init_terminated={"exitCode": 0, "reason": "Completed"},
        agent=_agent_done(),
    )
    assert (observe(handing_over, 1).phase, observe(handing_over, 1).reason) == ("Running", None)
    # …and while the publisher's container is being created (it was reported, and the
    # observation went Running → Running/ContainerCreating → Running: a needless signal).
    creating = pod(
        "Pending",
        waiting="ContainerCreating",
        init_terminated={"exitCode": 0, "reason": "Completed"},
        agent=_agent_done(),
    )
    assert (observe(creating, 1).phase, observe(creating, 1).reason) == ("Running", None)
    # A pod that merely waits to start is still Pending, with its reason.
    waiting = observe(pod("Pending", init_waiting="ContainerCreating"), 1)
    assert (waiting.phase, waiting.reason) == ("Pending", "ContainerCreating")


def test_the_result_is_the_publishers_not_the_agent_containers() -> None:
    agent_msg = result_message(outcome="completed", message="the agent's own view")
    publish_msg = result_message(outcome="no_changes", message="nothing to push")
    verdict = judge(
        5,
        pod(
            "Failed",
            init_terminated={"exitCode": 0, "reason": "Completed"},
            agent=_agent_done(message=agent_msg),
            terminated={"exitCode": 10, "reason": "Error", "message": publish_msg},
        ),
    )
    assert (verdict.outcome, verdict.message) == (Outcome.NO_CHANGES, "nothing to push")


def test_a_crashed_agent_container_ends_the_pod_with_its_own_message() -> None:
    msg = result_message(outcome="agent_failed", errorClass="internal_error", message="no report")
    verdict = judge(
        5,
        pod(
            "Failed",
            waiting="PodInitializing",
            init_terminated={"exitCode": 0, "reason": "Completed"},
            agent={"terminated": {"exitCode": 11, "reason": "Error", "message": msg}},
        ),
    )
    assert (verdict.outcome, verdict.error_class) == (Outcome.AGENT_FAILED, "internal_error")
    # A crash without a message: a pod failure, not a clone failure.
    crashed = judge(
        5,
        pod(
            "Failed",
            init_terminated={"exitCode": 0, "reason": "Completed"},
            agent={"terminated": {"exitCode": 1, "reason": "Error"}},
        ),
    )
    assert crashed.outcome == Outcome.POD_FAILED
    oom = judge(
        5,
        pod(
            "Failed",
            init_terminated={"exitCode": 0, "reason": "Completed"},
            agent={"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
        ),
    )
    assert (oom.verdict, oom.reason) == (Verdict.TERMINAL, "OOMKilled")


def test_the_agent_cannot_forge_the_pod_result_by_killing_its_runtime() -> None:
    """The agent writes the termination log of `claude` itself and kills its runtime: only an
    agent-phase outcome, turns and cost are read from there, bounded."""
    forged = result_message(
        outcome="completed",
        pushed=True,
        commits=3,
        headCommit="f" * 40,
        pullRequestURL="https://evil.example/o/r/pull/1",
        agentCostUSD=-1e9,
        agentTurns=-5,
        message="done ghp_" + "A" * 36,
    )
    verdict = judge(
        5,
        pod(
            "Failed",
            waiting="PodInitializing",
            init_terminated={"exitCode": 0, "reason": "Completed"},
            agent={"terminated": {"exitCode": 137, "reason": "Error", "message": forged}},
        ),
    )
    assert verdict.verdict == Verdict.FINISHED
    assert verdict.outcome == Outcome.AGENT_FAILED
    assert verdict.pushed is None
    assert verdict.commits is None
    assert verdict.head_commit is None
    assert verdict.pull_request_url is None
    assert verdict.agent_cost_usd is None
    assert verdict.agent_turns is None
    assert "ghp_" + "A" * 36 not in verdict.message
    # A cost that is not a finite, non-negative number is dropped from any container.
    for bad in ("NaN", "Infinity", "-1"):
        msg = '{"outcome": "completed", "agentTurns": 2, "agentCostUSD": ' + bad + "}"
        done = judge(
            5, pod("Succeeded", terminated={"exitCode": 0, "reason": "Completed", "message": msg})
        )
        assert (done.agent_cost_usd, done.agent_turns) == (None, 2)


def test_a_pod_of_the_older_two_container_shape_still_classifies() -> None:
    """Pods created before the split (main container `claude`, `gt-polecat run`) may still be
    running across an upgrade."""
    msg = result_message(outcome="completed", pushed=True)
    old = {
        "metadata": {"name": "polecat-furiosa-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": "Succeeded",
            "initContainerStatuses": [
                {"name": "git-init", "state": _agent_done()},
            ],
            "containerStatuses": [
                {"name": "claude", "state": _agent_done(message=msg)},
            ],
        },
    }
    verdict = judge(5, old)
    assert (verdict.outcome, verdict.pushed) == (Outcome.COMPLETED, True)
