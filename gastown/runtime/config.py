"""Typed settings for `gt-polecat`, read from the environment and nothing else.

The pod hands every input over as an env var or a mounted file (see docs/runtime.md), never as
a shell command line. Parsing all of them in one place means a bad spec fails fast with a
clear message before any git or agent process starts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """The pod's env does not describe a runnable polecat."""


AGENTS = ("claude-code", "command")
DEFAULT_IDLE_SECONDS = 900
DEFAULT_TERMINATION_LOG = "/dev/termination-log"


@dataclass(frozen=True)
class Settings:
    workspace: Path
    home: Path
    repo_url: str
    base_branch: str
    work_branch: str
    bead_id: str
    polecat: str
    rig: str
    task_file: Path | None
    git_secret_dir: Path | None
    known_hosts_file: Path | None
    git_ca_file: Path | None
    claude_creds_dir: Path | None
    agent: str
    agent_command: list[str]
    agent_args: list[str]
    model: str | None
    max_turns: int | None
    max_idle_seconds: float
    #: The agent's own time limit (the pod's deadline less a reserve for the publisher):
    #: None, no limit but the pod's.
    agent_time_budget_seconds: float | None
    claude_bin: str
    forge: str | None
    forge_token_file: Path | None
    forge_api_url: str | None
    forge_repository: str | None
    author_name: str
    author_email: str
    termination_log: Path
    push_attempts: int
    push_backoff_seconds: float
    kill_grace_seconds: float
    #: The agent container's report to the publisher (gastown/runtime/handoff.py).
    agent_result_file: Path | None = None
    env: Mapping[str, str] = field(repr=False, default_factory=dict)


def _opt(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = _opt(env, name)
    return Path(value) if value else None


def _json_argv(env: Mapping[str, str], name: str) -> list[str]:
    raw = _opt(env, name)
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a JSON list of strings: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a JSON list of strings")
    return value


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = _opt(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


_BAD_REF = re.compile(
    r"(^[-/.])|(\.\.)|(@\{)|([\x00-\x20~^:?*\[\\\x7f])|(/\.)|(\.lock$)|([/.]$)|//"
)


def check_branch_name(name: str, what: str) -> str:
    """Reject names git would refuse (mirrors `git check-ref-format --branch` rules)."""
    if not name or _BAD_REF.search(name) or name == "@":
        raise ConfigError(f"{what} {name!r} is not a valid git branch name")
    return name


def default_work_branch(bead_id: str, polecat: str) -> str:
    """polecat/<name>/<bead>, with characters git forbids in refs replaced."""
    parts = [p for p in (polecat, bead_id) if p]
    safe = "/".join(re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip(".-") or "x" for p in parts)
    return f"polecat/{safe or 'work'}"


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, raising ConfigError on anything unusable."""
    env = dict(os.environ if env is None else env)
    bead_id = env.get("GT_BEAD_ID", "")
    polecat = env.get("GT_POLECAT", "")
    base_branch = check_branch_name(_opt(env, "GT_BASE_BRANCH") or "main", "GT_BASE_BRANCH")
    work_branch = check_branch_name(
        _opt(env, "GT_WORK_BRANCH") or default_work_branch(bead_id, polecat), "GT_WORK_BRANCH"
    )
    agent = _opt(env, "GT_AGENT") or "claude-code"
    if agent not in AGENTS:
        raise ConfigError(f"GT_AGENT must be one of {', '.join(AGENTS)}, got {agent!r}")
    agent_command = _json_argv(env, "GT_AGENT_COMMAND")
    if agent == "command" and not agent_command:
        raise ConfigError("GT_AGENT=command needs GT_AGENT_COMMAND (a JSON argv list)")
    max_turns_raw = _opt(env, "GT_MAX_TURNS")
    max_turns = int(_number(env, "GT_MAX_TURNS", 0, 1)) if max_turns_raw else None
    home = _path(env, "HOME") or Path("/tmp")  # noqa: S108 - the pod's HOME is an emptyDir
    forge = _opt(env, "GT_FORGE")
    if forge is not None and forge not in ("github", "gitlab"):
        raise ConfigError(f"GT_FORGE must be github or gitlab, got {forge!r}")
    return Settings(
        workspace=_path(env, "GT_WORKSPACE") or Path("/workspace"),
        home=home,
        repo_url=env.get("GT_REPO_URL", "").strip(),
        base_branch=base_branch,
        work_branch=work_branch,
        bead_id=bead_id,
        polecat=polecat,
        rig=env.get("GT_RIG", ""),
        task_file=_path(env, "GT_TASK_FILE"),
        git_secret_dir=_path(env, "GT_GIT_SECRET_DIR"),
        known_hosts_file=_path(env, "GT_KNOWN_HOSTS_FILE"),
        git_ca_file=_path(env, "GT_GIT_CA_FILE"),
        claude_creds_dir=_path(env, "GT_CLAUDE_CREDS_DIR"),
        agent=agent,
        agent_command=agent_command,
        agent_args=_json_argv(env, "GT_AGENT_ARGS"),
        model=_opt(env, "GT_MODEL"),
        max_turns=max_turns,
        max_idle_seconds=_number(env, "GT_MAX_IDLE_SECONDS", DEFAULT_IDLE_SECONDS, 0.1),
        agent_time_budget_seconds=_number(env, "GT_AGENT_TIME_BUDGET_SECONDS", 0, 1)
        if _opt(env, "GT_AGENT_TIME_BUDGET_SECONDS")
        else None,
        claude_bin=_opt(env, "GT_CLAUDE_BIN") or "claude",
        forge=forge,
        forge_token_file=_path(env, "GT_FORGE_TOKEN_FILE"),
        forge_api_url=_opt(env, "GT_FORGE_API_URL"),
        forge_repository=_opt(env, "GT_FORGE_REPOSITORY"),
        author_name=_opt(env, "GT_GIT_AUTHOR_NAME") or "Gas Town Polecat",
        author_email=_opt(env, "GT_GIT_AUTHOR_EMAIL") or "polecat@gastown.invalid",
        termination_log=_path(env, "GT_TERMINATION_LOG") or Path(DEFAULT_TERMINATION_LOG),
        push_attempts=int(_number(env, "GT_PUSH_ATTEMPTS", 3, 1)),
        push_backoff_seconds=_number(env, "GT_PUSH_BACKOFF_SECONDS", 2.0, 0),
        kill_grace_seconds=_number(env, "GT_KILL_GRACE_SECONDS", 10.0, 0),
        agent_result_file=_path(env, "GT_AGENT_RESULT_FILE"),
        env=env,
    )
