"""Git, run with an argument vector and a controlled environment, with classified failures.

Nothing here builds a shell command line from user input: bead IDs, branch names and URLs
are argv elements. Credentials reach git only through GIT_SSH_COMMAND (paths to our own files)
and a credential helper configured via GIT_CONFIG_COUNT env vars, so nothing secret is written
to .git/config or put into a remote URL.

The runtime's git trusts nothing in the workspace (docs/runtime.md, "Why the runtime's git
trusts nothing in the workspace"): it works in a repository of its own (GT_RUNTIME_GIT_DIR,
outside the work tree) with the workspace only as its work tree, so `workspace/.git` (config,
hooks, refs: all the agent's to write) is never read by it. `init` clones into that
repository and gives the agent a copy of it as `workspace/.git`; `run` snapshots the work tree
into the runtime's repository, commits and pushes to GT_REPO_URL itself (never a remote name).
System and global config are off, and every key that could run a program is pinned in
env-level config, which beats the repository's own.
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
        self,
        *args: str,
        check: bool = True,
        cwd: Path | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd or self.cwd,
            env=dict(self.env),
            capture_output=True,
            text=True,
            check=False,
            input=input if input is not None else "",
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


DEFAULT_RUNTIME_GIT_DIR = ".gt-polecat/runtime.git"  # under HOME


def runtime_git_dir(settings: Settings) -> Path:
    """The runtime's own repository: GT_RUNTIME_GIT_DIR, else $HOME/.gt-polecat/runtime.git.

    It must be outside the workspace (the agent's to write). Clone and publish need it on a
    volume they share, ideally one the agent's container does not mount."""
    raw = settings.env.get("GT_RUNTIME_GIT_DIR", "").strip()
    path = Path(raw) if raw else settings.home / DEFAULT_RUNTIME_GIT_DIR
    if not path.is_absolute():
        raise ConfigError(f"GT_RUNTIME_GIT_DIR must be an absolute path, got {raw!r}")
    workspace = settings.workspace.resolve()
    resolved = path.resolve()
    if resolved == workspace or workspace in resolved.parents or resolved in workspace.parents:
        raise ConfigError(
            f"GT_RUNTIME_GIT_DIR {path} must be outside the workspace {settings.workspace} "
            "(the agent can write everything there)"
        )
    return path


def state_file(settings: Settings) -> Path:
    """Where `init` leaves what `run` needs: in the runtime's repository, not the agent's."""
    return runtime_git_dir(settings) / "gt-polecat-state.json"


def hardening_config(settings: Settings) -> list[tuple[str, str]]:
    """Env-level config for every git call of the runtime: nothing runs that it did not choose.

    Command-scope config (GIT_CONFIG_COUNT) beats system, global and repository config, so
    these hold even if the repository's own config were written by someone else."""
    file_allowed = settings.repo_url.startswith("file://")
    return [
        ("core.hooksPath", "/dev/null"),
        ("core.fsmonitor", "false"),
        ("core.symlinks", "true"),  # a link is committed as a link, never as its target
        ("core.attributesFile", "/dev/null"),  # $HOME is shared with the agent
        ("core.excludesFile", "/dev/null"),
        ("core.pager", "cat"),
        ("commit.gpgSign", "false"),
        ("tag.gpgSign", "false"),
        ("gpg.program", "/bin/false"),
        ("gpg.ssh.program", "/bin/false"),
        ("gpg.x509.program", "/bin/false"),
        ("protocol.ext.allow", "never"),
        ("protocol.file.allow", "always" if file_allowed else "never"),
        ("submodule.recurse", "false"),
        ("fetch.recurseSubmodules", "false"),
        ("push.recurseSubmodules", "no"),
        ("safe.directory", str(settings.workspace)),
        ("safe.directory", str(runtime_git_dir(settings))),
    ]


def transport_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The environment for the runtime's git: its own repository and config, no prompts, our
    ssh command and credential helper."""
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(("GIT_", "SSH_")) and k not in ("ANTHROPIC_API_KEY",)
    }
    env.update(
        HOME=str(settings.home),
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL="/dev/null",  # $HOME/.gitconfig is the agent's to write
        GIT_DIR=str(runtime_git_dir(settings)),
        GIT_WORK_TREE=str(settings.workspace),
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
    # Every secret mounted in this container, read now (before the agent speaks), so whatever
    # it prints of them is scrubbed from the pod log, the PR and the result.
    redact.register_files(
        [settings.git_secret_dir, settings.forge_token_file, settings.claude_creds_dir]
    )
    redact.register_env(settings.env)
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
        *hardening_config(settings),
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


def _without_repo(git: Git) -> Git:
    """The same git before the runtime's repository exists (clone, config --file)."""
    env = {k: v for k, v in git.env.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    return Git(git.cwd, env)


def trust_workspace_for_the_agent(settings: Settings, git: Git) -> None:
    """Write `safe.directory = <workspace>` into $HOME/.gitconfig, for the agent's git.

    A Kubernetes emptyDir is owned by root (fsGroup changes only its group), so git run as the
    pod's user refuses a repository at its root as of "dubious ownership". The runtime's own
    git gets the same through env-level config and never reads $HOME/.gitconfig."""
    home_config = settings.home / ".gitconfig"
    _without_repo(git).run(
        "config",
        "--file",
        str(home_config),
        "--replace-all",
        "safe.directory",
        str(settings.workspace),
        cwd=settings.workspace.parent,
    )


def clone_and_branch(settings: Settings, git: Git) -> WorkState:
    """Partial-clone the base branch into the runtime's repository, create the work branch or
    resume it from the remote, and give the agent a copy of the repository as workspace/.git."""
    import shutil

    check_repo_url(settings.repo_url)
    workspace = settings.workspace
    runtime_dir = runtime_git_dir(settings)
    url = settings.repo_url
    workspace.mkdir(parents=True, exist_ok=True)
    leftovers = list(workspace.iterdir())
    if leftovers and not (workspace / ".git").exists():
        # Only a previous clone (an init-container restart) is ours to wipe.
        raise ConfigError(f"workspace {workspace} is not empty and holds no clone; not touching it")
    _clear(workspace)
    if runtime_dir.exists():
        shutil.rmtree(runtime_dir)
    runtime_dir.parent.mkdir(parents=True, exist_ok=True)
    trust_workspace_for_the_agent(settings, git)
    bootstrap = _without_repo(git)
    clone = [
        "clone",
        "--no-tags",
        "--single-branch",
        "--branch",
        settings.base_branch,
        f"--separate-git-dir={runtime_dir}",
    ]
    target = ["--", url, str(workspace)]
    try:
        # Partial clone: full history (merge-base works on resume), blobs on demand.
        bootstrap.run(*clone, "--filter=blob:none", *target, cwd=workspace.parent)
    except GitError as exc:
        # A server that advertises filters but cannot serve missing blobs later (protocol v0
        # without allowAnySHA1InWant, common behind sshd without AcceptEnv GIT_PROTOCOL)
        # fails at checkout: fall back to a full clone.
        if not _PARTIAL_CLONE_BROKEN.search(exc.message):
            raise
        print("gt-polecat: partial clone not served; cloning in full", file=sys.stderr)
        _clear(workspace)
        if runtime_dir.exists():
            shutil.rmtree(runtime_dir)
        bootstrap.run(*clone, *target, cwd=workspace.parent)
    work = settings.work_branch
    remote_ref = f"refs/remotes/origin/{work}"
    # The URL itself, never the remote's name: what a remote is called is config.
    listing = git.out("ls-remote", "--heads", "--", url, f"refs/heads/{work}")
    resumed = bool(listing)
    if resumed:
        git.run("fetch", "--no-tags", "--", url, f"+refs/heads/{work}:{remote_ref}")
        git.run("checkout", "-B", work, remote_ref)
    else:
        git.run("checkout", "-B", work, f"refs/remotes/origin/{settings.base_branch}")
    base_ref = f"refs/remotes/origin/{settings.base_branch}"
    merge_base = git.run("merge-base", base_ref, "HEAD", check=False).stdout.strip()
    base_commit = merge_base or git.out("rev-parse", base_ref)
    # The agent's repository: a copy (not hard links: the agent may rewrite its files in
    # place), so nothing it does to workspace/.git reaches the runtime's.
    gitfile = workspace / ".git"
    if gitfile.is_file():
        gitfile.unlink()
    shutil.copytree(runtime_dir, gitfile, symlinks=True)
    state = WorkState(settings.base_branch, base_commit, work, resumed)
    state.save(state_file(settings))
    return state


def load_state(settings: Settings, git: Git) -> WorkState:
    """init's record, or the same facts recomputed from refs when it is missing."""
    state = WorkState.load(state_file(settings))
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
    """Commit the agent's work tree into the runtime's repository; True when a commit was made.

    The work tree is what is carried over (the agent's own commits live in its repository,
    workspace/.git, which the runtime does not read): one commit on top of the work branch
    as init left it. Links are committed as links, a nested repository is not carried at all
    (see `_drop_new_gitlinks`), and workspace/.git itself is never part of the tree."""
    git.run("add", "--all", "--", ".")
    _drop_new_gitlinks(git)
    if git.run("diff", "--cached", "--quiet", check=False).returncode == 0:
        return False
    subject = f"{bead_id or 'polecat'}: work of the agent"
    body = "Carried from the polecat's work tree by gt-polecat."
    git.run("commit", "--no-verify", "--no-gpg-sign", "--quiet", "-m", subject, "-m", body)
    return True


_GITLINK = "160000"


def _drop_new_gitlinks(git: Git) -> None:
    """Keep in the index only the gitlinks HEAD already had, with the same ID.

    `add` records a nested repository as a gitlink whose ID git reads from the nested HEAD,
    following links: a `sub/.git/refs/heads/main` linked to the mounted git Secret makes the
    token the recorded "commit" ID, which the push would then publish. The agent cannot be
    allowed to choose any ID the runtime pushes, so a gitlink that HEAD does not hold exactly
    is dropped (a new one) or put back as HEAD has it (a changed one)."""
    staged = git.run("ls-files", "--stage", "-z").stdout
    base = git.run("ls-tree", "-r", "-z", "--full-tree", "HEAD", check=False).stdout
    kept: dict[str, str] = {}  # path -> HEAD's ls-tree line for its gitlink
    for record in filter(None, base.split("\0")):
        meta, _, path = record.partition("\t")
        if meta.split(" ")[0] == _GITLINK:
            kept[path] = record
    fixes: list[str] = []
    for record in filter(None, staged.split("\0")):
        meta, _, path = record.partition("\t")
        mode, sha = meta.split(" ")[0:2]
        if mode != _GITLINK:
            continue
        if path in kept and kept[path].split(" ")[2].split("\t")[0] == sha:
            continue
        if path in kept:
            fixes.append(kept[path])
        else:
            fixes.append(f"0 {'0' * len(sha)}\t{path}")
        print(f"gt-polecat: not carrying the nested repository at {path!r}", file=sys.stderr)
    if fixes:
        git.run("update-index", "-z", "--index-info", input="".join(f + "\0" for f in fixes))


def push(git: Git, branch: str, attempts: int, backoff: float) -> None:
    """Push HEAD to the work branch at GT_REPO_URL (never forced), retrying transient failures.

    The URL is given, never a remote's name, with an explicit refspec: a pushurl or insteadOf
    in any config cannot send the work (and the credential) elsewhere."""
    url = git.env.get("GT_REPO_URL", "")
    if not url:
        raise GitError(ErrorClass.CONFIG_INVALID, "no GT_REPO_URL to push to")
    for attempt in range(1, attempts + 1):
        proc = git.run(
            "push",
            "--porcelain",
            "--no-verify",
            "--",
            url,
            f"HEAD:refs/heads/{branch}",
            check=False,
        )
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
