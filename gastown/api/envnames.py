"""Environment names the runtime owns: no user-settable env list may carry one.

The runtime reads its own inputs (`GT_*`), git's and ssh's settings (`GIT_*`, `SSH_*`) and
the model credentials from the pod's environment. A Polecat's `agentConfig.env` that could
set them would let whoever may create a Polecat redirect the forge token
(`GT_FORGE_API_URL`), the git transport (`GIT_SSH_COMMAND`, `GIT_CONFIG_*`) or the agent's
binary (`GT_CLAUDE_BIN`). `CLAUDE_CONFIG_DIR` moves Claude Code's user settings (which the
runtime keeps to the agent's own $HOME, `--setting-sources user`) into a directory the
repository could fill, whose `env` could then redirect the model endpoint. The same names
are refused by pydantic (here), by the CRD's CEL rule (`CEL_RULE`, generated from these
tuples so both say the same) and dropped once more when the pod is built, for objects
stored before the rule existed.
"""

from __future__ import annotations

from typing import Final

RESERVED_PREFIXES: Final = ("GT_", "GIT_", "SSH_")
RESERVED_NAMES: Final = frozenset(
    {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR"}
)

# What the user should set instead; one sentence, shared by pydantic and CEL.
INSTEAD: Final = (
    "set credentials with kubernetes.apiKeySecretRef / claudeCredsSecretRef, the model "
    "endpoint with agentConfig.modelProvider.endpoint, the agent program with "
    "agentConfig.command, and use another name for your own variables"
)


def is_reserved(name: str) -> bool:
    """Whether `name` belongs to the runtime (a `GT_`/`GIT_`/`SSH_` prefix or a credential)."""
    return name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES


def described() -> str:
    """The reserved set as a user reads it: `GT_*, GIT_*, SSH_*, ANTHROPIC_API_KEY, …`."""
    return ", ".join([*(f"{p}*" for p in RESERVED_PREFIXES), *sorted(RESERVED_NAMES)])


def reserved_message(name: str) -> str:
    return f"{name} is reserved for the runtime ({described()}); {INSTEAD}"


def cel_string(text: str) -> str:
    """`text` as a CEL string literal, for the CRD rules generated from Python sets."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# The CRD rule on one env item (`self` is the EnvVar): the same set as `is_reserved`.
CEL_RULE: Final = (
    "!("
    + " || ".join(
        [*(f"self.name.startsWith({cel_string(p)})" for p in RESERVED_PREFIXES)]
        + [f"self.name == {cel_string(n)}" for n in sorted(RESERVED_NAMES)]
    )
    + ")"
)
CEL_MESSAGE_EXPRESSION: Final = "self.name + " + cel_string(
    f" is reserved for the runtime ({described()}); {INSTEAD}"
)
CEL_MESSAGE: Final = f"the name is reserved for the runtime ({described()}); {INSTEAD}"
