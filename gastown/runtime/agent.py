"""How each agent kind is started: argv, environment and where its prompt comes from.

`claude-code` gets the prompt on stdin (a 100 KB bead would crowd the argv and show up in
`ps`); `command` agents get it on stdin too, and as a file named by GT_PROMPT_FILE. Neither is
ever run through a shell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gastown.api import agentflags
from gastown.runtime.config import ConfigError, Settings

#: Our own inputs that the agent has no business seeing (paths to secrets, the forge token).
_PRIVATE_ENV = (
    "GT_GIT_SECRET_DIR",
    "GT_FORGE_TOKEN_FILE",
    "GT_CLAUDE_CREDS_DIR",
    "GT_KNOWN_HOSTS_FILE",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_AUTH_SOCK",
    # Would move Claude's user settings (and their `env`) into a directory the repository
    # could fill; the credentials are installed in $HOME/.claude (gastown/api/envnames.py).
    "CLAUDE_CONFIG_DIR",
)


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    stdin: Path


def agent_env(
    settings: Settings, base: Mapping[str, str], prompt_file: Path, auth_env: Mapping[str, str]
) -> dict[str, str]:
    env = {
        k: v
        for k, v in base.items()
        if k not in _PRIVATE_ENV
        and not k.startswith("GIT_CONFIG_")
        and k not in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
    }
    env.update(auth_env)
    env.update(
        HOME=str(settings.home),
        GT_PROMPT_FILE=str(prompt_file),
        GT_WORK_BRANCH=settings.work_branch,
        GIT_AUTHOR_NAME=settings.author_name,
        GIT_AUTHOR_EMAIL=settings.author_email,
        GIT_COMMITTER_NAME=settings.author_name,
        GIT_COMMITTER_EMAIL=settings.author_email,
        GIT_TERMINAL_PROMPT="0",
    )
    # A read-only root filesystem has nowhere to update into.
    env.setdefault("DISABLE_AUTOUPDATER", "1")
    env.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    return env


def invocation(
    settings: Settings, base_env: Mapping[str, str], prompt_file: Path, auth_env: Mapping[str, str]
) -> Invocation:
    """The agent's argv and env; ConfigError when GT_AGENT_ARGS holds a flag the runtime owns."""
    found = agentflags.first_reserved(settings.agent_args)
    if found is not None:  # the API refuses these; a Polecat stored before the rule did not
        index, flag = found
        raise ConfigError(f"GT_AGENT_ARGS[{index}]: {agentflags.reserved_message(flag)}")
    env = agent_env(settings, base_env, prompt_file, auth_env)
    if settings.agent == "command":
        return Invocation([*settings.agent_command, *settings.agent_args], env, prompt_file)
    # `agentConfig.command` of a claude-code polecat names the CLI to run (GT_AGENT_COMMAND;
    # GT_CLAUDE_BIN is the runtime's own, reserved from user env).
    argv = [
        *(settings.agent_command or [settings.claude_bin]),
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        # The pod is the sandbox: no one is there to answer permission prompts.
        "--dangerously-skip-permissions",
        # Settings from $HOME only (the agent container's own emptyDir): the repository's
        # .claude/settings*.json could set env, ANTHROPIC_BASE_URL included, and send the
        # model credential to its author's server (gastown/api/agentflags.py).
        "--setting-sources",
        "user",
    ]
    if settings.model:
        argv += ["--model", settings.model]
    if settings.max_turns:
        argv += ["--max-turns", str(settings.max_turns)]
    argv += settings.agent_args
    return Invocation(argv, env, prompt_file)
