"""Claude Code flags the runtime owns: no `agentConfig.args` item may carry one.

The runtime starts `claude` with `--setting-sources user` so that the repository the polecat
works on cannot set the agent's env through `.claude/settings.json` or
`.claude/settings.local.json` (Claude Code reads both in headless `-p` runs without a trust
prompt; their `env` can set `ANTHROPIC_BASE_URL` and so send the rig's model credential to
the repository author's server). `--settings` loads more settings, `env` included, whatever
the sources; a later `--setting-sources` wins over ours. Either in `agentConfig.args` would
undo the rule that the rig's model credential follows only the rig's endpoint
(docs/security.md), so both are refused by pydantic (here), by the CRD's CEL rule (`CEL_RULE`,
generated from the same tuple) and once more by the runtime before it starts the agent, for
objects stored before the rule existed. Checked against Claude Code 2.1.332 (`claude --help`;
tests/runtime/test_claude_settings.py).
"""

from __future__ import annotations

from typing import Final

from gastown.api.envnames import cel_string

#: Each is refused as an item of its own and as `flag=value` (commander takes both).
RESERVED_FLAGS: Final = ("--settings", "--setting-sources")

INSTEAD: Final = (
    "the runtime runs Claude Code with --setting-sources user and no settings from the "
    "repository or the Polecat, so that the model endpoint and its credential stay the rig's; "
    "set the endpoint with agentConfig.modelProvider.endpoint, the model with "
    "agentConfig.model, and put a command agent's own flags in agentConfig.command"
)


def reserved_flag(arg: str) -> str | None:
    """The reserved flag `arg` is or sets (`--settings`, `--settings=…`), or None."""
    for flag in RESERVED_FLAGS:
        if arg == flag or arg.startswith(flag + "="):
            return flag
    return None


def first_reserved(args: list[str]) -> tuple[int, str] | None:
    """The index and flag of the first reserved item of `args`, or None."""
    for index, arg in enumerate(args):
        flag = reserved_flag(arg)
        if flag is not None:
            return index, flag
    return None


def reserved_message(flag: str) -> str:
    return f"{flag} is reserved for the runtime ({', '.join(RESERVED_FLAGS)}): {INSTEAD}"


# The CRD rule on an AgentConfig (`self`): the same set as `reserved_flag`.
CEL_RULE: Final = (
    "!has(self.args) || !self.args.exists(a, "
    + " || ".join(
        f"a == {cel_string(f)} || a.startsWith({cel_string(f + '=')})" for f in RESERVED_FLAGS
    )
    + ")"
)
CEL_MESSAGE: Final = f"args: {', '.join(RESERVED_FLAGS)} are reserved for the runtime; {INSTEAD}"
