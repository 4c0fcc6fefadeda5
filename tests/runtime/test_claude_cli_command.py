"""A claude-code polecat's `agentConfig.command` names the Claude Code CLI it runs.

GT_CLAUDE_BIN is the runtime's own setting and a reserved name in user env
(gastown/api/envnames.py), so the CR's way to point at another CLI (a wrapper, a pinned
install, the tests' stand-ins) is `agentConfig.command`, which reaches the runtime as
GT_AGENT_COMMAND.
"""

from __future__ import annotations

import json
from pathlib import Path

from gastown.runtime.agent import invocation
from gastown.runtime.config import load

BASE = {"GT_BEAD_ID": "dm-1", "GT_POLECAT": "furiosa", "GT_AGENT": "claude-code"}


def test_agent_command_is_the_claude_cli_argv_prefix(tmp_path: Path) -> None:
    env = {**BASE, "GT_AGENT_COMMAND": json.dumps(["/opt/node", "/opt/claude/cli.js"])}
    argv = invocation(load(env), env, tmp_path / "prompt.md", {}).argv
    assert argv[:3] == ["/opt/node", "/opt/claude/cli.js", "-p"]
    assert "--dangerously-skip-permissions" in argv


def test_without_a_command_the_cli_is_claude_on_path(tmp_path: Path) -> None:
    argv = invocation(load(BASE), BASE, tmp_path / "prompt.md", {}).argv
    assert argv[:2] == ["claude", "-p"]
