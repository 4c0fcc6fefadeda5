"""Git, run with an argument vector and a controlled environment, with classified failures.

Nothing here builds a shell command line from user input: bead IDs, branch names and URLs
are argv elements. Credentials reach git only through GIT_SSH_COMMAND (paths to our own files)
and a credential helper configured via GIT_CONFIG_COUNT env vars, so nothing secret is written
to .git/config or put into a remote URL.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gastown.runtime import credhelper, redact, ssh
from gastown.runtime.config import ConfigError, Settings
from gastown.runtime.result import ErrorClass


class GitError(Exception):
    """A git command failed; `error_class` says why in terms the workflow can act on."""

    def __init__(self, error_class: ErrorClass, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


_PATTERNS: list[tuple[ErrorClass, re.Pattern[str]]] = [
    (ErrorClass.HOST_KEY_CHANGED, re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED", re.I)),
    (
        ErrorClass.HOST_KEY_UNKNOWN,
        re.compile(r"No \S+ host key is known|Host key verification failed", re.I),
    ),
    (
        ErrorClass.AUTH_REFUSED,
        re.compile(
            r"Permission denied \(|Authentication failed|could not read (Username|Password)"
            r"|HTTP Basic: Access denied|The requested URL returned error: 40[13]"
            r"|Invalid username or password|access denied|Load key .*: invalid format",
            re.I,
        ),
    ),
    (
        ErrorClass.BRANCH_NOT_FOUND,
        re.compile(r"Remote branch .* not found|couldn't find remote ref", re.I),
    ),
    (
        ErrorClass.REPO_NOT_FOUND,
        re.compile(
            r"Repository not found|does not appear to be a git repository|not a git repository"
            r"|The requested URL returned error: 404|project you were looking for could not",
            re.I,
        ),
    ),
    (
        ErrorClass.NETWORK_UNREACHABLE,
        re.compile(
            r"Could not resolve host|Could not resolve hostname|Connection refused"
            r"|Connection timed out|Network is unreachable|No route to host|Operation timed out"
            r"|Connection reset|Failed to connect|unable to access|Temporary failure in name"
            r"|early EOF|remote end hung up unexpectedly|RPC failed"
            r"|The requested URL returned error: 5\d\d",
            re.I,
        ),
    ),
]


_PARTIAL_CLONE_BROKEN = re.compile(r"unadvertised object|promisor remote", re.I)


def classify(stderr: str) -> ErrorClass:
    for error_class, pattern in _PATTERNS:
        if pattern.search(stderr):
            return error_class
    return ErrorClass.GIT_ERROR


def is_transient(stderr: str) -> bool:
    """Push failures worth retrying: the network, not a rejection or a refusal."""
    return classify(stderr) is ErrorClass.NETWORK_UNREACHABLE


def _tail(text: str, limit: int = 1200) -> str:
    text = redact.redact(text.strip())
    return text if len(text) <= limit else "…" + text[-limit:]


@dataclass
class Git:
    """git bound to a work tree and an environment prepared by `transport_env`."""

    cwd: Path
    env: Mapping[str, str]

    def run(
        self, *args: str, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd or self.cwd,
            env=dict(self.env),
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise GitError(
                classify(proc.stderr), f"git {args[0]} failed: {_tail(proc.stderr or proc.stdout)}"
            )
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def rev(self, ref: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return proc.stdout.strip() or None


def check_repo_url(url: str) -> None:
    if not url:
        raise ConfigError("GT_REPO_URL is empty")
    if url.startswith("-"):
        raise ConfigError("GT_REPO_URL must not start with '-'")
    if re.match(r"^https?://[^/@]*:[^/@]*@", url) or re.match(r"^https?://[^/@]+@", url):
        raise ConfigError(
            "GT_REPO_URL must not embed credentials; put a token in the git Secret instead"
        )


def transport_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The environment for git: HOME, no prompts, our ssh command and credential helper."""
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(("GIT_", "SSH_")) and k not in ("ANTHROPIC_API_KEY",)
    }
    env.update(
        HOME=str(settings.home),
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME=settings.author_name,
        GIT_AUTHOR_EMAIL=settings.author_email,
        GIT_COMMITTER_NAME=settings.author_name,
        GIT_COMMITTER_EMAIL=settings.author_email,
    )
    env.pop("CLAUDE_CODE_OAUTH_TOKEN", None)
    if ssh.parse_ssh_url(settings.repo_url) is not None:
        env["GIT_SSH_COMMAND"] = ssh.prepare(
            settings.home, settings.git_secret_dir, settings.known_hosts_file
        )
    creds = credhelper.https_credentials(settings.git_secret_dir)
    if creds is not None:
        redact.register(creds[1])
    # -I: git runs the helper inside the work tree; isolated mode keeps the current directory
    # (whatever the agent left there) off sys.path and ignores PYTHON* variables.
    helper = "!" + shlex.join(
        [sys.executable, "-I", "-m", "gastown.runtime.main", "credential-helper"]
    )
    config = [
        # An empty value first resets helpers from any other config (the agent can edit
        # .git/config); then ours. Command-line scope beats the repository's config.
        ("credential.helper", ""),
        ("credential.helper", helper),
        # git sends the path only with this set; the helper answers for the rig's path only.
        ("credential.useHttpPath", "true"),
        # Our own git calls run no hooks or fsmonitor the agent may have planted.
        ("core.hooksPath", "/dev/null"),
        ("core.fsmonitor", "false"),
        ("protocol.ext.allow", "never"),
    ]
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GT_REPO_URL"] = settings.repo_url  # what the credential helper answers for
    if settings.git_secret_dir is not None:
        env["GT_GIT_SECRET_DIR"] = str(settings.git_secret_dir)
    if settings.git_ca_file is not None:
        env["GIT_SSL_CAINFO"] = str(settings.git_ca_file)  # a self-hosted forge's CA bundle
    return env


@dataclass(frozen=True)
class WorkState:
    """What init leaves for run, stored in .git (never committed)."""

    base_branch: str
    base_commit: str
    work_branch: str
    resumed: bool

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, path: Path) -> WorkState | None:
        try:
            raw = json.loads(path.read_text())
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None


def _clear(directory: Path) -> None:
    """Empty the workspace (an emptyDir survives an init-container restart)."""
    import shutil

    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def clone_and_branch(settings: Settings, git: Git) -> WorkState:
    """Partial-clone the base branch, then create the work branch or resume it from the remote."""
    check_repo_url(settings.repo_url)
    workspace = settings.workspace
    workspace.mkdir(parents=True, exist_ok=True)
    leftovers = list(workspace.iterdir())
    if leftovers and not (workspace / ".git").exists():
        # Only a previous clone (an init-container restart) is ours to wipe.
        raise ConfigError(f"workspace {workspace} is not empty and holds no clone; not touching it")
    _clear(workspace)
    # A Kubernetes emptyDir is owned by root (fsGroup changes only its group), so git, run as
    # the pod's user, would refuse the clone at its root as of "dubious ownership". Trust
    # exactly the workspace, in $HOME's config: the agent's git (in the main container,
    # same home volume) needs it too.
    git.run(
        "config",
        "--global",
        "--replace-all",
        "safe.directory",
        str(workspace),
        cwd=workspace.parent,
    )
    clone = ["clone", "--no-tags", "--single-branch", "--branch", settings.base_branch]
    target = ["--", settings.repo_url, str(workspace)]
    try:
        # Partial clone: full history (merge-base works on resume), blobs on demand.
        git.run(*clone, "--filter=blob:none", *target, cwd=workspace.parent)
    except GitError as exc:
        # A server that advertises filters but cannot serve missing blobs later (protocol v0
        # without allowAnySHA1InWant, common behind sshd without AcceptEnv GIT_PROTOCOL)
        # fails at checkout: fall back to a full clone.
        if not _PARTIAL_CLONE_BROKEN.search(exc.message):
            raise
        print("gt-polecat: partial clone not served; cloning in full", file=sys.stderr)
        _clear(workspace)
        git.run(*clone, *target, cwd=workspace.parent)
    work = settings.work_branch
    remote_ref = f"refs/remotes/origin/{work}"
    listing = git.out("ls-remote", "--heads", "origin", f"refs/heads/{work}")
    resumed = bool(listing)
    if resumed:
        git.run("fetch", "--no-tags", "origin", f"+refs/heads/{work}:{remote_ref}")
        git.run("checkout", "-B", work, remote_ref)
    else:
        git.run("checkout", "-B", work, f"refs/remotes/origin/{settings.base_branch}")
    base_ref = f"refs/remotes/origin/{settings.base_branch}"
    merge_base = git.run("merge-base", base_ref, "HEAD", check=False).stdout.strip()
    base_commit = merge_base or git.out("rev-parse", base_ref)
    state = WorkState(settings.base_branch, base_commit, work, resumed)
    state.save(settings.state_file)
    return state


def load_state(settings: Settings, git: Git) -> WorkState:
    """init's record, or the same facts recomputed from refs when it is missing."""
    state = WorkState.load(settings.state_file)
    if state is not None:
        return state
    base_ref = f"refs/remotes/origin/{settings.base_branch}"
    base = git.run("merge-base", base_ref, "HEAD", check=False).stdout.strip()
    if not base:
        raise GitError(
            ErrorClass.BRANCH_NOT_FOUND,
            f"workspace has no {base_ref}; did the git-init container run?",
        )
    return WorkState(settings.base_branch, base, settings.work_branch, False)


def commit_leftovers(git: Git, bead_id: str) -> bool:
    """Commit whatever the agent left in the work tree; True when a commit was made."""
    git.run("add", "--all", "--", ".")
    if git.run("diff", "--cached", "--quiet", check=False).returncode == 0:
        return False
    subject = f"{bead_id or 'polecat'}: work left uncommitted by the agent"
    git.run("commit", "--no-verify", "--quiet", "-m", subject)
    return True


def push(git: Git, branch: str, attempts: int, backoff: float) -> None:
    """Push HEAD to the work branch (never forced), retrying transient network failures."""
    for attempt in range(1, attempts + 1):
        proc = git.run("push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}", check=False)
        if proc.returncode == 0:
            return
        output = proc.stderr + proc.stdout
        rejected = "[rejected]" in output or "[remote rejected]" in output
        if rejected or not is_transient(output) or attempt == attempts:
            error_class = (
                ErrorClass.PUSH_REJECTED
                if rejected or classify(output) is ErrorClass.GIT_ERROR
                else classify(output)
            )
            if error_class is ErrorClass.NETWORK_UNREACHABLE:
                error_class = ErrorClass.PUSH_TRANSIENT
            raise GitError(error_class, f"git push failed: {_tail(output)}")
        print(f"gt-polecat: push attempt {attempt} failed transiently; retrying", file=sys.stderr)
        time.sleep(backoff * attempt)


def count_commits(git: Git, base: str) -> int:
    return int(git.out("rev-list", "--count", f"{base}..HEAD") or "0")
