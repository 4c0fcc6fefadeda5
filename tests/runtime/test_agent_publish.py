"""`gt-polecat agent` then `gt-polecat publish`, as the pod's two containers run them: the report
between them is a file the agent could have forged, and the publisher treats it so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gastown.runtime import handoff
from gastown.runtime.result import Outcome, PolecatResult

from .conftest import POD_PYTHON, Pod, chown_tree, git

AGENT = Path(__file__).with_name("agents") / "scripted_agent.py"
FORGE_TOKEN = "ghp_CANARYFORGE0123456789abcdefghijklmnop"


def command_env(mode: str, **extra: str) -> dict[str, str]:
    return {
        "GT_AGENT": "command",
        "GT_AGENT_COMMAND": json.dumps([str(POD_PYTHON), str(AGENT)]),
        "AGENT_MODE": mode,
        **extra,
    }


@pytest.fixture
def report_file(pod: Pod) -> Path:
    """The agent-result emptyDir: writable by the pod user."""
    directory = pod.root / "agent-result"
    directory.mkdir()
    chown_tree(directory, pod.uid, pod.gid)
    return directory / "agent-result.json"


def agent_then_publish(
    pod: Pod, report_file: Path, mode: str, **extra: str
) -> tuple[int, PolecatResult, str]:
    env = {"GT_AGENT_RESULT_FILE": str(report_file), **command_env(mode, **extra)}
    agent = pod.run("agent", **env)
    publish = pod.run("publish", **env)
    assert publish.result is not None, publish.stderr
    return agent.returncode, PolecatResult.model_validate(publish.result), publish.stderr


def test_the_agent_container_exits_0_and_the_publisher_pushes_its_commits(
    pod: Pod, report_file: Path
) -> None:
    assert pod.run("init").returncode == 0
    agent_code, result, _ = agent_then_publish(pod, report_file, "commit")
    assert agent_code == 0
    assert result.outcome is Outcome.COMPLETED
    assert (result.pushed, result.commits) == (True, 1)
    assert (result.agent_turns, result.agent_cost_usd) == (3, 0.25)
    assert result.agent_session_id == "scripted-1"
    pushed = git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin)
    assert result.head_commit == pushed
    # The report lives outside the work tree: never committed.
    assert "agent-result" not in git("ls-tree", "-r", "--name-only", pushed, cwd=pod.origin)


@pytest.mark.parametrize(
    ("mode", "extra", "outcome", "pushed"),
    [
        ("fail-after-commit", {}, Outcome.AGENT_FAILED, True),
        ("nothing", {}, Outcome.NO_CHANGES, False),
        ("hang", {"GT_MAX_IDLE_SECONDS": "1"}, Outcome.STUCK, False),
    ],
)
def test_agent_failures_reach_the_publisher_and_its_exit_code(
    pod: Pod, report_file: Path, mode: str, extra: dict[str, str], outcome: Outcome, pushed: bool
) -> None:
    """The agent container exits 0 whatever the agent did, so the pod reaches the publisher;
    the publisher's exit code and result carry the outcome (partial work still pushed)."""
    assert pod.run("init").returncode == 0
    agent_code, result, _ = agent_then_publish(pod, report_file, mode, **extra)
    assert agent_code == 0
    assert result.outcome is outcome
    assert result.pushed is pushed


def test_an_agent_out_of_time_is_stopped_and_its_work_pushed(pod: Pod, report_file: Path) -> None:
    """A busy agent (never idle) outliving its share of the pod's deadline is stopped by its
    runtime, so the publisher still runs and pushes the work so far: the kubelet's deadline
    would have killed the pod with it."""
    assert pod.run("init").returncode == 0
    agent_code, result, _ = agent_then_publish(
        pod, report_file, "busy", GT_AGENT_TIME_BUDGET_SECONDS="2", GT_MAX_IDLE_SECONDS="60"
    )
    assert agent_code == 0
    assert (result.outcome, result.error_class) == (Outcome.STUCK, "agent_deadline")
    assert "ran out of its time" in result.message
    assert result.pushed is True
    pushed = git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin)
    assert "partial.txt" in git("ls-tree", "-r", "--name-only", pushed, cwd=pod.origin)


def test_expired_credentials_push_nothing(pod: Pod, report_file: Path) -> None:
    assert pod.run("init").returncode == 0
    creds = pod.secret_dir(
        "claude",
        {".credentials.json": json.dumps({"claudeAiOauth": {"accessToken": "x", "expiresAt": 1}})},
    )
    env = {"GT_AGENT_RESULT_FILE": str(report_file), "GT_CLAUDE_CREDS_DIR": str(creds)}
    assert pod.run("agent", **env).returncode == 0
    publish = pod.run("publish", **env)
    result = PolecatResult.model_validate(publish.result)
    assert result.outcome is Outcome.AUTH_EXPIRED
    assert publish.returncode == 12
    assert result.pushed is False
    assert git("branch", "--list", "polecat/*", cwd=pod.origin) == ""


def test_a_missing_report_is_agent_failed_and_the_work_still_pushed(
    pod: Pod, report_file: Path
) -> None:
    assert pod.run("init").returncode == 0
    (pod.workspace / "left.txt").write_text("partial work\n")
    chown_tree(pod.workspace, pod.uid, pod.gid)
    publish = pod.run("publish", GT_AGENT_RESULT_FILE=str(report_file))
    result = PolecatResult.model_validate(publish.result)
    assert (result.outcome, result.error_class) == (Outcome.AGENT_FAILED, "internal_error")
    assert result.pushed is True
    assert "no report" in publish.stderr


def forged(report_file: Path, pod: Pod, content: str | bytes) -> None:
    data = content.encode() if isinstance(content, str) else content
    report_file.write_bytes(data)
    os.chown(report_file, pod.uid, pod.gid)


HOSTILE_REPORTS = {
    "outcome only the publisher decides": json.dumps({"outcome": "no_changes"}),
    "unknown outcome": json.dumps({"outcome": "pwned"}),
    "unknown field": json.dumps({"outcome": "completed", "pushed": True}),
    "push error class": json.dumps({"outcome": "completed", "errorClass": "push_rejected"}),
    "negative turns": json.dumps({"outcome": "completed", "agentTurns": -1}),
    "session id with newline": json.dumps({"outcome": "completed", "agentSessionID": "a\nb"}),
    "not an object": json.dumps(["completed"]),
    "not json": "outcome=completed",
    "over the size cap": json.dumps({"outcome": "completed", "message": "x" * 20000}),
}


@pytest.mark.parametrize("content", HOSTILE_REPORTS.values(), ids=HOSTILE_REPORTS.keys())
def test_a_forged_report_is_refused(pod: Pod, report_file: Path, content: str) -> None:
    assert pod.run("init").returncode == 0
    forged(report_file, pod, content)
    publish = pod.run("publish", GT_AGENT_RESULT_FILE=str(report_file))
    result = PolecatResult.model_validate(publish.result)
    assert (result.outcome, result.error_class) == (Outcome.AGENT_FAILED, "internal_error")
    assert publish.returncode == 11


def test_a_report_symlinked_to_a_secret_is_not_read(pod: Pod, report_file: Path) -> None:
    assert pod.run("init").returncode == 0
    forge = pod.secret_dir("forge", {"token": FORGE_TOKEN})
    report_file.symlink_to(forge / "token")
    publish = pod.run(
        "publish", GT_AGENT_RESULT_FILE=str(report_file), GT_FORGE_TOKEN_FILE=str(forge / "token")
    )
    assert FORGE_TOKEN not in publish.stdout + publish.stderr + pod.termination_log.read_text()
    result = PolecatResult.model_validate(publish.result)
    assert result.outcome is Outcome.AGENT_FAILED


def test_the_agents_message_is_redacted_and_cut(pod: Pod, report_file: Path) -> None:
    """A message naming the publisher's forge token (the agent may have guessed or stolen
    it elsewhere) comes out redacted, and cut to the report's limit."""
    assert pod.run("init").returncode == 0
    forge = pod.secret_dir("forge", {"token": FORGE_TOKEN})
    message = f"done; token {FORGE_TOKEN} " + "y" * 5000
    forged(report_file, pod, json.dumps({"outcome": "agent_failed", "message": message[:3000]}))
    publish = pod.run(
        "publish",
        GT_AGENT_RESULT_FILE=str(report_file),
        GT_FORGE_TOKEN_FILE=str(forge / "token"),
    )
    result = PolecatResult.model_validate(publish.result)
    assert result.outcome is Outcome.AGENT_FAILED
    assert FORGE_TOKEN not in publish.stdout + publish.stderr + pod.termination_log.read_text()
    assert result.message.startswith("done; token ")
    assert len(result.message) <= handoff.MESSAGE_MAX + 200


def test_read_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "report"
    os.mkfifo(fifo)
    with pytest.raises(handoff.HandoffError, match="not a regular file"):
        handoff.read(fifo)
