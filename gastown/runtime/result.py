"""The result a polecat pod reports: outcome, exit codes and the termination-message JSON.

This module is the contract between the pod and the workflow side. It imports nothing but the
standard library, pydantic and the (stdlib-only) redactor and performs no I/O, so activities
(and workflows) can import it to parse `containerStatuses[].state.terminated.message` and to
classify a bare exit code when the message was lost. Every string it writes is redacted.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gastown.api.polecat import Outcome
from gastown.runtime import redact

#: Kubernetes keeps at most 4096 bytes of a termination message; we never write more.
MAX_TERMINATION_MESSAGE_BYTES = 4096


# One Outcome for the pod and the workflow (the API's, which also has the outcomes only the
# workflow concludes: pod_failed, terminated). The runtime reports the ones in EXIT_CODES.
__all__ = ["EXIT_CODES", "ErrorClass", "Outcome", "PolecatResult", "outcome_for_exit_code"]


#: Exit code per outcome, so a pod whose termination message was lost still classifies.
#: 1 is left to Python's own crash exit and 2 to argparse usage errors.
EXIT_CODES: dict[Outcome, int] = {
    Outcome.COMPLETED: 0,
    Outcome.NO_CHANGES: 10,
    Outcome.AGENT_FAILED: 11,
    Outcome.AUTH_EXPIRED: 12,
    Outcome.STUCK: 13,
    Outcome.PUSH_FAILED: 14,
    Outcome.CLONE_FAILED: 15,
}

_OUTCOME_BY_EXIT_CODE = {code: outcome for outcome, code in EXIT_CODES.items()}


def outcome_for_exit_code(code: int) -> Outcome | None:
    """The outcome an exit code stands for, or None for a crash or an unknown code."""
    return _OUTCOME_BY_EXIT_CODE.get(code)


class ErrorClass(StrEnum):
    """Why a run did not complete, finer than the outcome (for messages and retry policy)."""

    AUTH_REFUSED = "auth_refused"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_CHANGED = "host_key_changed"
    REPO_NOT_FOUND = "repo_not_found"
    BRANCH_NOT_FOUND = "branch_not_found"
    NETWORK_UNREACHABLE = "network_unreachable"
    GIT_ERROR = "git_error"
    CONFIG_INVALID = "config_invalid"
    CREDENTIALS_MISSING = "credentials_missing"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a class name, not a token
    AGENT_EXIT = "agent_exit"
    AGENT_NOT_FOUND = "agent_not_found"
    IDLE_TIMEOUT = "idle_timeout"
    AGENT_DEADLINE = "agent_deadline"
    TERMINATED = "terminated"
    PUSH_REJECTED = "push_rejected"
    PUSH_TRANSIENT = "push_transient"
    PULL_REQUEST_FAILED = "pull_request_failed"
    INTERNAL = "internal_error"


class PolecatResult(BaseModel):
    """What `gt-polecat` writes to the termination message path (camelCase on the wire)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    outcome: Outcome
    branch: str | None = None
    base_commit: str | None = Field(default=None, alias="baseCommit")
    head_commit: str | None = Field(default=None, alias="headCommit")
    commits: int = 0
    pushed: bool = False
    pull_request_url: str | None = Field(default=None, alias="pullRequestURL")
    agent_turns: int | None = Field(default=None, alias="agentTurns")
    agent_cost_usd: float | None = Field(default=None, alias="agentCostUSD")
    agent_session_id: str | None = Field(default=None, alias="agentSessionID")
    error_class: ErrorClass | None = Field(default=None, alias="errorClass")
    message: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_termination_message(self, limit: int = MAX_TERMINATION_MESSAGE_BYTES) -> str:
        """Serialise to at most `limit` bytes of valid JSON.

        The message is shortened first (it is the only free-form field); if the document is still
        too long, the other optional strings are cut too. The result always parses.
        """
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        # Redacted before the cut, so the cut is exact: the message quotes the agent.
        for key, value in data.items():
            if isinstance(value, str) and key not in ("outcome", "errorClass"):
                data[key] = redact.redact(value)
        text = _dumps(data)
        if len(text.encode()) <= limit:
            return text
        message = str(data.get("message", ""))
        data["message"] = ""
        for key in ("branch", "pullRequestURL", "agentSessionID"):
            # Only when the fixed fields alone crowd out the message.
            if len(_dumps(data).encode()) > limit - 512 and isinstance(data.get(key), str):
                data[key] = _shorten(data[key], 200)
        fixed = len(_dumps(data).encode())
        # json.dumps(message) carries the two quotes that `fixed` already counted.
        data["message"] = _shorten(message, limit - fixed + 2)
        text = _dumps(data)
        if len(text.encode()) > limit:
            text = _dumps({"outcome": data["outcome"], "message": "result truncated"})
        return text

    @classmethod
    def from_termination_message(cls, text: str) -> PolecatResult:
        """Parse a termination message written by `to_termination_message`."""
        raw: Any = json.loads(text)
        return cls.model_validate(raw)


def _dumps(data: dict[str, Any]) -> str:
    # ensure_ascii keeps the byte count predictable: one byte per character.
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"))


def _shorten(text: str, budget_bytes: int) -> str:
    """Cut `text` so its JSON-escaped form fits `budget_bytes`, marking the cut."""
    marker = "…[truncated]"
    if len(json.dumps(text, ensure_ascii=True)) <= budget_bytes:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if len(json.dumps(text[:mid] + marker, ensure_ascii=True)) <= budget_bytes:
            low = mid
        else:
            high = mid - 1
    return text[:low] + marker
