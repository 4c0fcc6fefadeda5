"""`kubectl gt polecat`: the pod's three containers (git-init, claude, publish) by name."""

from __future__ import annotations

from pathlib import Path

from gastown.cli.polecat import describe
from tests.cli.test_sling_usage import assert_usage_error


def test_status_names_the_container_at_work() -> None:
    """The agent runs in an init container: the pod phase alone does not say it is working."""
    obj = {
        "metadata": {"name": "furiosa", "namespace": "ns"},
        "spec": {"rig": "demo-rig", "beadID": "dm-1"},
        "status": {
            "phase": "Working",
            "pod": {
                "phase": "Running",
                "containers": [
                    {"name": "git-init", "state": "terminated", "reason": "Completed"},
                    {"name": "claude", "state": "running"},
                    {"name": "publish", "state": "waiting", "reason": "PodInitializing"},
                ],
            },
        },
    }
    [row] = [line for line in describe(obj).splitlines() if line.startswith("Containers:")]
    assert row == (
        "Containers:    git-init: terminated (Completed), claude: running, "
        "publish: waiting (PodInitializing)"
    )
    without = describe({**obj, "status": {}}).splitlines()
    assert not [line for line in without if line.startswith("Containers:")]


def test_logs_of_an_unknown_container_is_a_usage_error(tmp_path: Path) -> None:
    assert_usage_error(
        ["polecat", "logs", "furiosa", "-c", "sidecar"], "claude, git-init or publish", tmp_path
    )
