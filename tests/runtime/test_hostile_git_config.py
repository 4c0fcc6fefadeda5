"""The runtime's git trusts nothing in the workspace: a hostile agent's planted config, hooks,
attributes, links and nested repositories change nothing about what the runtime runs or where
it pushes (docs/runtime.md, "Why the runtime's git trusts nothing in the workspace")."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .conftest import POD_PYTHON, Pod, chown_tree, git, make_origin

AGENT = Path(__file__).with_name("agents") / "hostile_git_agent.py"
BRANCH = "refs/heads/polecat/furiosa/dm-0001"
#: 40 hex digits, like a Gitea token or a classic PAT: git takes it for a commit ID.
TOKEN = "0123456789abcdef0123456789abcdef01234567"
#: A nested repository whose `refs/heads/main` is a link to the mounted Secret.
GITLINK_TO_SECRET = "planted-repo"

#: Each attempt the agent makes, and the marker its planted program would leave.
ATTEMPTS = {
    "filter driver (filter.evil.clean + .gitattributes)": "filter-clean",
    "filter driver (filter.evil.process)": "filter-process",
    "filter driver (filter.evil.smudge)": "filter-smudge",
    "diff driver (diff.evil.textconv / command)": "diff-textconv",
    "diff driver command": "diff-driver",
    "gpg.program with commit.gpgSign": "gpg-program",
    "core.fsmonitor": "fsmonitor",
    "core.sshCommand": "ssh-command",
    "core.pager": "pager",
    "core.askPass": "askpass",
    "diff.external": "diff-external",
    "credential.helper in .git/config": "credential-helper",
    "uploadpack.packObjectsHook": "pack-objects-hook",
    **{f"core.hooksPath hook {h}": f"hooksPath-{h}" for h in ("pre-commit", "pre-push")},
    **{
        f".git/hooks/{h}": f"git-hooks-{h}"
        for h in (
            "pre-commit",
            "prepare-commit-msg",
            "commit-msg",
            "post-commit",
            "pre-push",
            "reference-transaction",
            "post-index-change",
            "post-checkout",
        )
    },
    **{
        f"hooks of the nested repository: {h}": f"nested-hooks-{h}"
        for h in ("pre-commit", "post-index-change", "reference-transaction")
    },
}


def test_nothing_the_agent_planted_runs_and_the_push_goes_to_the_rig(
    pod: Pod, sandbox: Path
) -> None:
    markers = sandbox / "markers"
    markers.mkdir()
    chown_tree(markers, pod.uid, pod.gid)
    decoy = make_origin(sandbox / "decoy.git")
    chown_tree(decoy, pod.uid, pod.gid)
    secret = pod.secret_dir("git-creds", {"token": TOKEN})
    origin_url = f"file://{pod.origin}"
    env = {
        "GT_AGENT": "command",
        "GT_AGENT_COMMAND": json.dumps([str(POD_PYTHON), str(AGENT)]),
        "HOSTILE_MARKERS": str(markers),
        "HOSTILE_DECOY": f"file://{decoy}",
        "HOSTILE_ORIGIN_URL": origin_url,
        "HOSTILE_SECRET": str(secret / "token"),
    }
    decoy_refs_before = git("for-each-ref", cwd=decoy)
    init = pod.run("init")
    assert init.returncode == 0, init.stderr

    run = pod.run("run", **env)

    assert run.returncode == 0, run.stdout + run.stderr
    assert (pod.workspace / ".git" / "hooks" / "pre-commit").exists(), "the agent did not plant"
    ran = {attempt for attempt, marker in ATTEMPTS.items() if (markers / marker).exists()}
    assert ran == set(), f"planted programs ran: {sorted(ran)}"
    # The push reached the rig's repository, with the agent's file changes...
    assert run.result is not None
    assert run.result["pushed"] is True
    head = git("rev-parse", BRANCH, cwd=pod.origin)
    assert head == run.result["headCommit"]
    assert git("show", f"{head}:feature.txt", cwd=pod.origin) == "hostile work"
    # ...and the decoy received nothing (pushurl, insteadOf, pushInsteadOf).
    assert git("for-each-ref", cwd=decoy) == decoy_refs_before
    # The link to the Secret is committed as a link: its target path, not the token.
    tree = git("ls-tree", head, cwd=pod.origin)
    entries = {line.split("\t")[1]: line.split()[0:3] for line in tree.splitlines()}
    assert entries["secret-link"][0] == "120000"
    assert git("cat-file", "blob", entries["secret-link"][2], cwd=pod.origin) == str(
        secret / "token"
    )
    # Attempt: a gitlink whose ID is the Secret (planted-repo/.git/refs/heads/main -> token).
    assert (pod.workspace / GITLINK_TO_SECRET / ".git" / "refs" / "heads" / "main").is_symlink()
    pushed = git("log", "--all", "-p", "--raw", cwd=pod.origin)
    assert TOKEN not in pushed
    assert GITLINK_TO_SECRET not in entries
    assert not [line for line in pushed.splitlines() if "160000" in line], pushed
    # A nested repository the base did not have is not carried: no gitlink, no files.
    assert "nested" not in entries
    assert "nested/inner.txt" not in git("ls-tree", "-r", "--name-only", head, cwd=pod.origin)
    everything = git("rev-list", "--objects", "--all", cwd=pod.origin)
    for line in everything.splitlines():
        sha = line.split()[0]
        if git("cat-file", "-t", sha, cwd=pod.origin) == "blob":
            assert TOKEN not in git("cat-file", "blob", sha, cwd=pod.origin)
    # The forged state file was not read: the base is the real one.
    assert run.result["baseCommit"] == git("rev-parse", "main", cwd=pod.origin)
    for text in (run.stdout, run.stderr, json.dumps(run.result)):
        assert TOKEN not in text

    # Control: the same planted config does run under a git that reads it, so the
    # markers above would have shown up had the runtime's git obeyed it.
    control_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(pod.home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": "*",
    }
    (pod.workspace / "control.txt").write_text("control\n")
    for args in (["add", "control.txt"], ["commit", "--no-gpg-sign", "-qm", "control"]):
        control = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=pod.workspace,
            env=control_env,
            capture_output=True,
            check=False,
            timeout=60,
            text=True,
        )
    fired = sorted(p.name for p in markers.iterdir() if p.is_file())
    assert {"fsmonitor", "filter-process"} <= set(fired), (fired, control.stderr)


def test_runtime_git_dir_is_a_parameter(pod: Pod, sandbox: Path) -> None:
    runtime_dir = sandbox / "publisher" / "runtime.git"
    runtime_dir.parent.mkdir()
    chown_tree(runtime_dir.parent, pod.uid, pod.gid)
    env = {"GT_RUNTIME_GIT_DIR": str(runtime_dir)}

    init = pod.run("init", **env)
    assert init.returncode == 0, init.stderr
    run = pod.run(
        "run",
        **env,
        GT_AGENT="command",
        GT_AGENT_COMMAND=json.dumps([str(POD_PYTHON), str(AGENT.with_name("scripted_agent.py"))]),
        AGENT_MODE="leave",
    )

    assert run.returncode == 0, run.stderr
    assert (runtime_dir / "gt-polecat-state.json").is_file()
    assert not (pod.home / ".gt-polecat" / "runtime.git").exists()
    assert (pod.workspace / ".git").is_dir()  # the agent's own copy, not a gitfile
    assert git("rev-parse", BRANCH, cwd=pod.origin) == git("rev-parse", "HEAD", cwd=runtime_dir)


def test_runtime_git_dir_inside_the_workspace_is_refused(pod: Pod) -> None:
    run = pod.run("init", GT_RUNTIME_GIT_DIR=str(pod.workspace / "rt.git"))

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "config_invalid"
    assert "GT_RUNTIME_GIT_DIR" in run.result["message"]
    assert list(pod.workspace.iterdir()) == []
