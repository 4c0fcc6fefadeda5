"""Bead IDs, branch names and task text full of shell syntax are data, never code."""

from __future__ import annotations

from pathlib import Path

from .conftest import Pod, chown_tree, git
from .test_command_agent import command_env


def payloads(canary: Path) -> list[str]:
    return [
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"'; touch {canary}; '",
        f'"; touch {canary}; "',
        f"\ntouch {canary}\n",
        f"| touch {canary} &",
    ]


def test_hostile_bead_branch_and_task_execute_nothing(pod: Pod, sandbox: Path) -> None:
    canary = sandbox / "canary"
    evil = payloads(canary)
    bead_id = "dm-1" + "".join(evil)
    # Every character here is legal in a git ref; the shell would still run it.
    branch = "polecat/$(touch${IFS}canary)/`touch${IFS}canary`/x;touch${IFS}canary"
    task = "Please handle " + " ".join(evil) + "\n"
    task += "x" * (100_000 - len(task))
    task_file = sandbox / "task.md"
    task_file.write_text(task)
    capture = sandbox / "capture"
    capture.mkdir()
    chown_tree(capture, pod.uid, pod.gid)
    env = {"GT_BEAD_ID": bead_id, "GT_WORK_BRANCH": branch, "GT_TASK_FILE": str(task_file)}

    init = pod.run("init", **env)
    assert init.returncode == 0, init.stderr
    run = pod.run("run", **env, **command_env("leave", AGENT_CAPTURE_DIR=str(capture)))

    assert run.returncode == 0, run.stderr
    # Nothing ran: no canary anywhere the shell could have created one.
    for directory in (sandbox, pod.workspace, pod.home, capture):
        assert not (directory / "canary").exists()
        assert not any(p.name.startswith("canary") for p in directory.iterdir())
    # The agent got the task byte for byte, on stdin and in GT_PROMPT_FILE.
    prompt = (capture / "file.txt").read_text()
    assert (capture / "stdin.txt").read_text() == prompt
    assert task.strip() in prompt
    assert bead_id in prompt
    # The branch was pushed under exactly that name, the bead named in the commit.
    assert git("rev-parse", f"refs/heads/{branch}", cwd=pod.origin)
    message = git("log", "-1", "--format=%B", f"refs/heads/{branch}", cwd=pod.origin)
    assert bead_id.strip() in message
    assert run.result is not None
    assert run.result["branch"] == branch


def test_invalid_branch_name_is_rejected_before_git_runs(pod: Pod) -> None:
    run = pod.run("init", GT_WORK_BRANCH="--upload-pack=touch canary")

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "config_invalid"
    assert list(pod.workspace.iterdir()) == []
