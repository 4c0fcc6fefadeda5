"""The agent container's report to the publisher: a small JSON file in the `agent-result` volume.

The agent container (`gt-polecat agent`) runs a prompt-injectable agent as the same user as
itself, so whatever it writes to this file the agent could have written instead. The publisher
(`gt-polecat publish`) therefore reads it as hostile input: size-capped, parsed with a strict
schema (unknown fields and outcomes refused, numbers bounded), strings truncated, and redacted
by the caller before they are shown anywhere. A refused report is not fatal: the publisher
reports `agent_failed` and still pushes whatever the work tree holds, which is all a forged
report could have obtained anyway.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gastown.runtime.result import ErrorClass, Outcome

#: Larger files are refused unread: a report is a few hundred bytes.
MAX_BYTES = 16 * 1024
MESSAGE_MAX = 1024

#: What the agent phase may conclude; the rest (no_changes, push_failed, clone_failed) only
#: the publisher decides.
AGENT_OUTCOMES = frozenset(
    {Outcome.COMPLETED, Outcome.AGENT_FAILED, Outcome.AUTH_EXPIRED, Outcome.STUCK}
)
AGENT_ERROR_CLASSES = frozenset(
    {
        ErrorClass.CONFIG_INVALID,
        ErrorClass.CREDENTIALS_MISSING,
        ErrorClass.TOKEN_EXPIRED,
        ErrorClass.AGENT_EXIT,
        ErrorClass.AGENT_NOT_FOUND,
        ErrorClass.IDLE_TIMEOUT,
        ErrorClass.AGENT_DEADLINE,
        ErrorClass.TERMINATED,
        ErrorClass.INTERNAL,
    }
)
#: Error classes after which nothing is pushed: the agent never ran (or the model refused
#: the credentials), so the work tree is the clone as git-init left it.
NOT_RUN = frozenset(
    {
        ErrorClass.CONFIG_INVALID,
        ErrorClass.CREDENTIALS_MISSING,
        ErrorClass.TOKEN_EXPIRED,
        ErrorClass.AGENT_NOT_FOUND,
    }
)


class HandoffError(Exception):
    """The report is missing or was refused; the message says why (no file content in it)."""


class AgentReport(BaseModel):
    """What the agent phase tells the publisher (camelCase on disk, like the result)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    outcome: Outcome
    error_class: ErrorClass | None = Field(default=None, alias="errorClass")
    message: Annotated[str, Field(max_length=4 * MESSAGE_MAX)] = ""
    agent_turns: Annotated[int, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, alias="agentTurns"
    )
    agent_cost_usd: Annotated[float, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, alias="agentCostUSD"
    )
    agent_session_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,100}$")] | None = Field(
        default=None, alias="agentSessionID"
    )

    @field_validator("outcome")
    @classmethod
    def _agent_outcome(cls, value: Outcome) -> Outcome:
        if value not in AGENT_OUTCOMES:
            raise ValueError(f"outcome {value.value!r} is not one the agent phase reports")
        return value

    @field_validator("error_class")
    @classmethod
    def _agent_error_class(cls, value: ErrorClass | None) -> ErrorClass | None:
        if value is not None and value not in AGENT_ERROR_CLASSES:
            raise ValueError(f"errorClass {value.value!r} is not one the agent phase reports")
        return value

    @field_validator("agent_cost_usd")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("agentCostUSD must be finite")
        return value

    @property
    def pushes(self) -> bool:
        """Whether the publisher commits and pushes after this report."""
        return self.outcome is not Outcome.AUTH_EXPIRED and self.error_class not in NOT_RUN


def write(path: Path, report: AgentReport) -> None:
    """Write atomically (temp file + rename), so the publisher never reads half a report."""
    data = report.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["message"] = str(data.get("message", ""))[:MESSAGE_MAX]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, ensure_ascii=True), encoding="utf-8")
    tmp.replace(path)


def read(path: Path) -> AgentReport:
    """The report, validated; HandoffError when it is missing, too big, or not a report."""
    try:
        # O_NOFOLLOW: a symlink planted in its place (to a Secret, say) is refused, not read.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise HandoffError("the agent container left no report") from None
    except OSError as exc:
        raise HandoffError(f"the agent's report could not be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # a FIFO or device: never read
            raise HandoffError("the agent's report is not a regular file")
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise HandoffError(f"the agent's report is over {MAX_BYTES} bytes; refused unread")
    try:
        doc: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HandoffError("the agent's report is not JSON") from None
    if not isinstance(doc, dict):
        raise HandoffError("the agent's report is not a JSON object")
    try:
        report = AgentReport.model_validate(doc)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(document)" for e in exc.errors()})
        named = ", ".join(fields)
        raise HandoffError(f"the agent's report was refused (fields: {named})") from None
    return report.model_copy(update={"message": report.message[:MESSAGE_MAX]})
