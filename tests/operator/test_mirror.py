"""status.pod from a pod's JSON: waiting reasons, exit codes, readiness, cleared fields."""

from __future__ import annotations

from typing import Any

from gastown.kube.errors import from_status
from gastown.operator.mirror import pod_mirror


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "polecat-x-1"}, "status": status}


def test_waiting_reason_of_a_container_is_mirrored() -> None:
    m = pod_mirror(pod(phase="Pending", containerStatuses=[{
        "name": "publish", "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off pulling"}},
    }]))  # fmt: skip
    assert (m["phase"], m["reason"], m["message"]) == (
        "Pending",
        "ImagePullBackOff",
        "back-off pulling",
    )
    assert m["containers"] == [{
        "name": "publish", "state": "waiting", "reason": "ImagePullBackOff",
        "message": "back-off pulling", "restartCount": 0,
    }]  # fmt: skip


def test_config_error_in_the_init_container_is_named() -> None:
    m = pod_mirror(pod(phase="Pending", initContainerStatuses=[{
        "name": "git-init",
        "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "no secret"}},
    }]))  # fmt: skip
    assert m["reason"] == "CreateContainerConfigError"
    assert m["containers"][0]["name"] == "git-init"


def test_terminated_exit_code_and_finish_time() -> None:
    m = pod_mirror(pod(phase="Failed", startTime="2026-01-01T00:00:00Z", containerStatuses=[{
        "name": "publish",
        "state": {"terminated": {"exitCode": 11, "reason": "Error",
                                 "finishedAt": "2026-01-01T00:01:00Z"}},
    }]))  # fmt: skip
    assert m["containers"][0]["exitCode"] == 11
    assert m["finishedAt"] == "2026-01-01T00:01:00Z"
    assert m["startedAt"] == "2026-01-01T00:00:00Z"
    assert m["ready"] is False


def test_a_pod_whose_agent_runs_shows_it_running() -> None:
    """The agent is the pod's last init container: Kubernetes says Pending (Init:1/2), the
    mirror says Running, without the publisher's PodInitializing as a reason."""
    m = pod_mirror(pod(phase="Pending", initContainerStatuses=[
        {"name": "git-init", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "claude", "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}},
    ], containerStatuses=[
        {"name": "publish", "state": {"waiting": {"reason": "PodInitializing"}}},
    ]))  # fmt: skip
    assert (m["phase"], m["reason"]) == ("Running", None)
    states = {c["name"]: c["state"] for c in m["containers"]}
    assert states == {"git-init": "terminated", "claude": "running", "publish": "waiting"}


def test_a_pod_that_failed_in_the_agent_container_has_a_finish_time() -> None:
    m = pod_mirror(pod(phase="Failed", initContainerStatuses=[
        {"name": "git-init", "state": {"terminated": {
            "exitCode": 0, "finishedAt": "2026-01-01T00:00:04Z"}}},
        {"name": "claude", "state": {"terminated": {
            "exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T00:02:00Z"}}},
    ], containerStatuses=[
        {"name": "publish", "state": {"waiting": {"reason": "PodInitializing"}}},
    ]))  # fmt: skip
    assert m["finishedAt"] == "2026-01-01T00:02:00Z"


def test_a_cleared_reason_is_sent_as_null_so_the_merge_patch_removes_it() -> None:
    m = pod_mirror(pod(phase="Running", conditions=[{"type": "Ready", "status": "True"}]))
    assert "reason" in m and m["reason"] is None
    assert m["ready"] is True
    assert m["finishedAt"] is None


def test_retry_after_from_header_or_status_details() -> None:
    assert from_status(429, "Too Many Requests", None, {"Retry-After": "3"}).retry_after == 3.0
    body = '{"details": {"retryAfterSeconds": 2}}'
    assert from_status(429, "Too Many Requests", body, {}).retry_after == 2.0
