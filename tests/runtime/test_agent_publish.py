"""`gt-polecat agent` then `gt-polecat publish`, as the pod's two containers run them: the report
between them is a file the agent could have forged, and the publisher treats it so."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from gastown.runtime import handoff, startclock
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


def _record_started(pod: Pod, text: str) -> None:
    """What a slow clone or image pull looks like to the agent's runtime: git-init's start
    recorded long before the agent's (written as git-init would, as the pod user)."""
    path = startclock.record_path(pod.workspace)
    path.write_text(text)
    chown_tree(path, pod.uid, pod.gid)


def test_init_records_its_start_in_the_agents_git_dir_never_pushed(
    pod: Pod, report_file: Path
) -> None:
    before = time.time()
    assert pod.run("init").returncode == 0
    after = time.time()
    started = startclock.read(pod.workspace)
    assert started is not None
    assert before - 1 <= started <= after
    _, result, _ = agent_then_publish(pod, report_file, "commit")
    assert result.pushed is True
    tree = git("ls-tree", "-r", "--name-only", "polecat/furiosa/dm-0001", cwd=pod.origin)
    assert startclock.FILE_NAME not in tree


def test_a_slow_clone_comes_out_of_the_agents_time_not_the_publishers(
    pod: Pod, report_file: Path
) -> None:
    """An hour's budget, of which git-init's clone (and the agent image's pull) took all but
    two seconds: the busy agent is stopped then, not an hour later (the pod run's own timeout
    would fail the test), and the publisher pushes its work."""
    assert pod.run("init").returncode == 0
    _record_started(pod, f"{time.time() - 3598:.3f}\n")
    env = {"GT_AGENT_RESULT_FILE": str(report_file), **command_env("busy")}
    agent = pod.run("agent", GT_AGENT_TIME_BUDGET_SECONDS="3600", GT_MAX_IDLE_SECONDS="3600", **env)
    assert agent.returncode == 0, agent.stderr[-2000:]
    # 2 s less what passed between the record and the agent's start; never under 1 s.
    assert re.search(
        r"s since git-init started: the agent gets [12]s of its 3600s budget", agent.stderr
    )
    publish = pod.run("publish", **env)
    assert publish.result is not None, publish.stderr
    result = PolecatResult.model_validate(publish.result)
    assert (result.outcome, result.error_class) == (Outcome.STUCK, "agent_deadline")
    assert result.pushed is True
    pushed = git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin)
    assert "partial.txt" in git("ls-tree", "-r", "--name-only", pushed, cwd=pod.origin)


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("FUTURE", "it is in the future"),
        ("ANCIENT", "it is older than the pod's deadline allows"),
        ("yesterday-ish\n", "it is not a number"),
        ("nan\n", "it is not a number"),
        ("1" * 100, "it is too long"),
    ],
)
def test_an_absurd_recorded_start_is_ignored_and_the_whole_budget_given(
    pod: Pod, report_file: Path, record: str, why: str
) -> None:
    """A record that cannot be git-init's leaves the agent its whole budget: the agent,
    which finishes at once, is not cut short."""
    assert pod.run("init").returncode == 0
    now = time.time()
    text = {"FUTURE": f"{now + 600}", "ANCIENT": f"{now - 3 * 3600}"}.get(record, record)
    _record_started(pod, text)
    env = {"GT_AGENT_RESULT_FILE": str(report_file), **command_env("commit")}
    agent = pod.run("agent", GT_AGENT_TIME_BUDGET_SECONDS="3600", **env)
    assert f"ignoring the recorded start of git-init ({why}): budget 3600s" in agent.stderr
    publish = pod.run("publish", **env)
    assert publish.result is not None
    assert publish.result["outcome"] == "completed", publish.stderr


def test_a_claude_code_too_old_for_setting_sources_says_so(pod: Pod, report_file: Path) -> None:
    """An image's Claude Code that predates --setting-sources fails at its first argument;
    the outcome names the flag and the way out, not a bare exit code."""
    old = pod.root / "old-claude.py"
    old.write_text(
        "import sys\nsys.stdin.read()\n"
        "print(\"error: unknown option '--setting-sources'\", file=sys.stderr)\nsys.exit(1)\n"
    )
    old.chmod(0o755)
    assert pod.run("init").returncode == 0
    env = {
        "GT_AGENT_RESULT_FILE": str(report_file),
        "GT_AGENT": "claude-code",
        "GT_AGENT_COMMAND": json.dumps([str(POD_PYTHON), str(old)]),
        "ANTHROPIC_API_KEY": "sk-ant-api03-test",
    }
    assert pod.run("agent", **env).returncode == 0
    result = PolecatResult.model_validate(pod.run("publish", **env).result)
    assert (result.outcome, result.error_class) == (Outcome.AGENT_FAILED, "config_invalid")
    assert "does not know --setting-sources" in result.message
