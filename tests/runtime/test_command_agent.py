"""init + run end to end with real git (file:// origins) and the `command` agent."""

from __future__ import annotations

import json
import shutil
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from gastown.runtime.result import EXIT_CODES, Outcome, PolecatResult

from .conftest import POD_PYTHON, Pod, chown_tree, git, wait_for

AGENT = Path(__file__).with_name("agents") / "scripted_agent.py"


def command_env(mode: str, **extra: str) -> dict[str, str]:
    return {
        "GT_AGENT": "command",
        "GT_AGENT_COMMAND": json.dumps([str(POD_PYTHON), str(AGENT)]),
        "AGENT_MODE": mode,
        **extra,
    }


def test_init_then_run_pushes_the_agents_commit(pod: Pod) -> None:
    init = pod.run("init")
    assert init.returncode == 0, init.stderr
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=pod.workspace) == "polecat/furiosa/dm-0001"

    run = pod.run("run", **command_env("commit"))

    assert run.returncode == 0, run.stderr
    assert run.result is not None
    result = PolecatResult.model_validate(run.result)
    origin_main = git("rev-parse", "main", cwd=pod.origin)
    pushed_head = git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin)
    assert result.outcome is Outcome.COMPLETED
    assert result.pushed is True
    assert result.commits == 1
    assert result.base_commit == origin_main
    assert result.head_commit == pushed_head
    assert result.branch == "polecat/furiosa/dm-0001"
    assert (result.agent_turns, result.agent_cost_usd) == (3, 0.25)
    assert result.agent_session_id == "scripted-1"
    assert git("show", f"{pushed_head}:feature.txt", cwd=pod.origin) == "work done"
    # The agent's own commit carries the configured author.
    assert git("log", "-1", "--format=%an <%ae>", pushed_head, cwd=pod.origin) == (
        "Polecat Furiosa <furiosa@polecats.example>"
    )
    # The agent's stream-json reached our stdout.
    assert '"type":"result"' in run.stdout


def test_leftovers_are_committed_with_the_bead_in_the_message(pod: Pod) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run("run", **command_env("leave"))

    assert run.returncode == EXIT_CODES[Outcome.COMPLETED], run.stderr
    head = "refs/heads/polecat/furiosa/dm-0001"
    subject = git("log", "-1", "--format=%s", head, cwd=pod.origin)
    assert "dm-0001" in subject
    assert git("log", "-1", "--format=%an", head, cwd=pod.origin) == "Polecat Furiosa"
    assert git("show", f"{head}:leftover.txt", cwd=pod.origin) == "uncommitted"


def test_no_commits_is_no_changes(pod: Pod) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run("run", **command_env("nothing"))

    assert run.returncode == EXIT_CODES[Outcome.NO_CHANGES] == 10
    assert run.result is not None
    assert run.result["outcome"] == "no_changes"
    assert run.result["pushed"] is False
    assert run.result["commits"] == 0
    assert "polecat/furiosa/dm-0001" not in git("branch", "--list", cwd=pod.origin)


def test_failing_agent_still_pushes_its_commits(pod: Pod) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run("run", **command_env("fail-after-commit"))

    assert run.returncode == EXIT_CODES[Outcome.AGENT_FAILED] == 11
    assert run.result is not None
    assert run.result["outcome"] == "agent_failed"
    assert run.result["errorClass"] == "agent_exit"
    assert run.result["pushed"] is True
    assert "exited with 3" in run.result["message"]
    git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin)


def test_retry_attempt_resumes_the_remote_work_branch(pod: Pod) -> None:
    assert pod.run("init").returncode == 0
    first = pod.run("run", **command_env("commit"))
    assert first.returncode == 0, first.stderr
    first_head = first.result["headCommit"] if first.result else None

    # A new attempt pod: fresh workspace and HOME, same origin.
    for directory in (pod.workspace, pod.home):
        for child in directory.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    init = pod.run("init")
    assert init.returncode == 0, init.stderr
    assert "resumed" in init.stderr
    assert git("rev-parse", "HEAD", cwd=pod.workspace) == first_head

    second = pod.run("run", **command_env("leave"))

    assert second.returncode == 0, second.stderr
    assert second.result is not None
    assert second.result["commits"] == 2
    head = git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin)
    assert git("rev-parse", f"{head}~1", cwd=pod.origin) == first_head


def test_push_rejected_when_the_branch_moved_on(pod: Pod, sandbox: Path) -> None:
    assert pod.run("init").returncode == 0
    # Someone else pushes to the work branch after our clone.
    other = sandbox / "other"
    git("clone", "-q", str(pod.origin), str(other))
    git("checkout", "-q", "-b", "polecat/furiosa/dm-0001", cwd=other)
    (other / "theirs.txt").write_text("theirs\n")
    git("add", "-A", cwd=other)
    git("commit", "-q", "-m", "theirs", cwd=other)
    git("push", "-q", "origin", "polecat/furiosa/dm-0001", cwd=other)
    chown_tree(pod.origin, pod.uid, pod.gid)
    theirs = git("rev-parse", "HEAD", cwd=other)

    run = pod.run("run", **command_env("commit"))

    assert run.returncode == EXIT_CODES[Outcome.PUSH_FAILED] == 14
    assert run.result is not None
    assert run.result["outcome"] == "push_failed"
    assert run.result["errorClass"] == "push_rejected"
    assert run.result["pushed"] is False
    # Never forced: their commit is still the branch head.
    assert git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin) == theirs


def test_missing_repository_is_a_classified_clone_failure(pod: Pod) -> None:
    run = pod.run("init", GT_REPO_URL=f"file://{pod.root}/nowhere.git")

    assert run.returncode == EXIT_CODES[Outcome.CLONE_FAILED] == 15
    assert run.result is not None
    assert run.result["outcome"] == "clone_failed"
    assert run.result["errorClass"] == "repo_not_found"


def test_missing_base_branch_is_a_classified_clone_failure(pod: Pod) -> None:
    run = pod.run("init", GT_BASE_BRANCH="release-9")

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "branch_not_found"
    assert "release-9" in run.result["message"]


def test_bad_config_is_reported_not_crashed(pod: Pod) -> None:
    run = pod.run("run", GT_AGENT="gpt-in-a-box")

    assert run.returncode == EXIT_CODES[Outcome.AGENT_FAILED]
    assert run.result is not None
    assert run.result["errorClass"] == "config_invalid"
    assert "GT_AGENT" in run.result["message"]


def test_megabyte_lines_stream_through_intact(pod: Pod) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run("run", **command_env("bigline"))

    assert run.returncode == 0, run.stderr[-2000:]
    big = [line for line in run.stdout.splitlines() if '"blob"' in line]
    assert len(big) == 1
    assert len(big[0]) == len('{"type":"assistant","blob":""}') + (5 << 20)


def test_silent_agent_is_stopped_and_reported_stuck(pod: Pod) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run("run", GT_MAX_IDLE_SECONDS="1.5", **command_env("hang"))

    assert run.returncode == EXIT_CODES[Outcome.STUCK] == 13
    assert run.result is not None
    assert run.result["outcome"] == "stuck"
    assert run.result["errorClass"] == "idle_timeout"
    assert run.elapsed < 30


def test_agent_ignoring_sigterm_is_killed(pod: Pod) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run(
        "run", GT_MAX_IDLE_SECONDS="1", GT_KILL_GRACE_SECONDS="1", **command_env("hang-ignore-term")
    )

    assert run.returncode == 13
    assert run.elapsed < 30


def test_missing_agent_binary_is_agent_failed(pod: Pod) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run(
        "run", GT_AGENT="command", GT_AGENT_COMMAND=json.dumps(["/nonexistent/agent-binary"])
    )

    assert run.returncode == 11
    assert run.result is not None
    assert run.result["errorClass"] == "agent_not_found"


def test_bead_from_beads_jsonl_reaches_the_agent(
    pod_factory: Callable[..., Pod], sandbox: Path
) -> None:
    beads = "\n".join(
        json.dumps(b)
        for b in [
            {"id": "dm-0001", "title": "Old title", "description": "stale"},
            {"id": "dm-0002", "title": "Other bead", "description": "not this one"},
            {
                "id": "dm-0001",
                "title": "Add a /health endpoint",
                "description": 'Return {"status": "ok"}.',
                "acceptance_criteria": "GET /health answers 200",
                "status": "open",
                "priority": 1,
                "issue_type": "feature",
            },
        ]
    )
    pod = pod_factory(
        {"README.md": "demo\n", ".beads/issues.jsonl": beads + "\n", "CLAUDE.md": "x"}
    )
    capture = sandbox / "capture"
    capture.mkdir()
    chown_tree(capture, pod.uid, pod.gid)
    assert pod.run("init").returncode == 0

    run = pod.run(
        "run",
        GT_AGENT_ARGS=json.dumps(["--flag", "two words"]),
        USER_SETTING="from agentConfig.env",
        **command_env("nothing", AGENT_CAPTURE_DIR=str(capture)),
    )

    assert run.returncode == 10
    assert (capture / "argv.txt").read_text() == "--flag\ntwo words"
    env_names = (capture / "env.txt").read_text().split()
    assert "USER_SETTING" in env_names
    assert "GT_PROMPT_FILE" in env_names
    assert "GT_GIT_SECRET_DIR" not in env_names
    assert not [name for name in env_names if name.startswith("GIT_CONFIG")]
    prompt = (capture / "file.txt").read_text()
    assert (capture / "stdin.txt").read_text() == prompt
    assert "Add a /health endpoint" in prompt
    assert 'Return {"status": "ok"}.' in prompt
    assert "GET /health answers 200" in prompt
    assert "stale" not in prompt
    assert "not this one" not in prompt
    assert "CLAUDE.md" in prompt
    assert "Commit your work" in prompt


def test_sigterm_stops_the_agent_and_pushes_partial_work(pod: Pod, sandbox: Path) -> None:
    """What the kubelet does on pod deletion or activeDeadlineSeconds."""
    capture = sandbox / "capture"
    capture.mkdir()
    chown_tree(capture, pod.uid, pod.gid)
    assert pod.run("init").returncode == 0
    proc = pod.start("run", **command_env("leave-then-hang", AGENT_CAPTURE_DIR=str(capture)))
    try:
        wait_for(lambda: (capture / "hanging").exists(), timeout=30, what="the agent to start")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == EXIT_CODES[Outcome.AGENT_FAILED], stderr.decode()
    result = pod.result()
    assert result is not None
    assert result["errorClass"] == "terminated"
    assert result["pushed"] is True
    head = "refs/heads/polecat/furiosa/dm-0001"
    assert git("show", f"{head}:leftover.txt", cwd=pod.origin) == "partial"


def test_agent_planted_hooks_do_not_run_in_the_runtimes_git(pod: Pod, sandbox: Path) -> None:
    assert pod.run("init").returncode == 0
    canary = sandbox / "hook-canary"
    for hook in ("pre-commit", "pre-push", "post-commit"):
        path = pod.workspace / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\ntouch {canary}\nexit 1\n")
        path.chmod(0o755)
    chown_tree(pod.workspace, pod.uid, pod.gid)

    run = pod.run("run", **command_env("leave"))

    assert run.returncode == 0, run.stderr
    assert not canary.exists()


def test_init_refuses_to_wipe_a_workspace_that_is_not_a_clone(pod: Pod) -> None:
    precious = pod.workspace / "precious.txt"
    precious.write_text("keep me")

    run = pod.run("init")

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "config_invalid"
    assert precious.read_text() == "keep me"


def test_unreachable_remote_is_network_unreachable(pod: Pod) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    run = pod.run("init", GT_REPO_URL=f"https://127.0.0.1:{port}/org/repo.git")

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "network_unreachable"
