"""When the pod's work began, for the agent's time budget.

The pod's activeDeadlineSeconds counts from the pod's start, the agent's budget
(GT_AGENT_TIME_BUDGET_SECONDS) from the agent's: a slow clone, or a slow pull of the agent's
image, would otherwise come out of the publisher's reserve, and the kubelet would kill the pod
with the agent's work in it. So `gt-polecat init` records the wall-clock time its process
started, and the agent's runtime runs the agent for the budget less what has passed since.

The record lives in the agent's copy of the git directory (`workspace/.git`, made by
gitops.clone_and_branch): the workspace is the only volume git-init and the agent's container
share, a file in the work tree would be committed, and `workspace/.git` is never pushed or
read by the publisher (the runtime's git has its own repository). It is read before the agent
starts, so the agent cannot change it first; values that cannot be right are ignored.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "gt-polecat-init-started"
#: The least time an agent is given, however late it starts: enough to be seen starting.
MIN_SECONDS = 1.0
_MAX_BYTES = 64


def record_path(workspace: Path) -> Path:
    return workspace / ".git" / FILE_NAME


def record(workspace: Path, started: float) -> None:
    """Write `started` (seconds since the epoch) where the agent's runtime reads it."""
    path = record_path(workspace)
    tmp = path.with_name(FILE_NAME + ".tmp")
    tmp.write_text(f"{started:.3f}\n", encoding="ascii")
    tmp.replace(path)


def read(workspace: Path) -> float | None:
    """The recorded start, or None when there is none; ValueError when it does not parse."""
    try:
        with record_path(workspace).open("rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"it cannot be read: {exc.strerror}") from None
    if len(raw) > _MAX_BYTES:
        raise ValueError("it is too long")
    try:
        value = float(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise ValueError("it is not a number") from None
    if not math.isfinite(value):
        raise ValueError("it is not a number")
    return value


@dataclass(frozen=True)
class Budget:
    seconds: float
    #: Seconds since git-init started, when the record was used.
    elapsed: float | None
    #: Why the record was not used, when there was one.
    ignored: str | None = None


def agent_budget(budget: float, started: float | None, now: float | None = None) -> Budget:
    """The agent's share of `budget` left at `now`, counting from `started`.

    A start in the future, or so far back that the pod's deadline would already have killed
    it (the publisher's reserve is at most half the deadline, so the deadline is at most twice
    the budget), is not the pod's: the whole budget is given, as without a record."""
    now = time.time() if now is None else now
    if started is None:
        return Budget(budget, None)
    elapsed = now - started
    if elapsed < 0:
        return Budget(budget, None, "it is in the future")
    if elapsed > 2 * budget:
        return Budget(budget, None, "it is older than the pod's deadline allows")
    return Budget(max(budget - elapsed, MIN_SECONDS), elapsed)
