"""Retry as a parameter: who retries a failed call is the caller's choice, not the client's.

Three policies cover every caller:

- `NO_RETRY` (the activities): one try; Temporal's retry policy is the one place that retries,
  with its own backoff, heartbeats and history. Retrying here too would multiply attempts.
- `BACKOFF` (the watcher): retry what is worth retrying — 429 after the server's Retry-After,
  5xx and connection failures with capped exponential backoff and jitter — and raise
  `Unavailable` when the attempts run out, for the caller's own loop (a work queue, the
  leader election) to try again later. A 404 or a 409 is an answer, not a hiccup, and is
  raised at once; except a 409 on a write that cannot conflict (a merge patch without a
  resourceVersion), which only a flaky server produces and is retried like a 5xx.
- `FAIL_FAST` (the CLI): one try and urllib3's own retries off, so a terminal user sees the
  error now instead of after silent retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from gastown.kube.errors import Conflict, KubeError, Unavailable


@dataclass
class Backoff:
    """Capped exponential backoff with jitter (so two replicas do not retry in step)."""

    initial: float = 0.05
    cap: float = 5.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def __call__(self) -> float:
        self._next = self.initial if self._next == 0 else min(self.cap, self._next * self.factor)
        return self._next * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self._next = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries a call gets, how long to wait between them, and urllib3's own retries.

    `transport_retries` is handed to urllib3 when the client is built: None keeps the
    library's default (a few reconnects of idempotent requests), 0 turns them off.
    """

    attempts: int = 1
    initial: float = 0.05
    cap: float = 5.0
    transport_retries: int | None = None

    def backoff(self) -> Backoff:
        return Backoff(initial=self.initial, cap=self.cap)

    def delay(
        self, error: KubeError, attempt: int, backoff: Backoff, *, conflict_is_flaky: bool
    ) -> float | None:
        """Seconds to wait before trying again after `error` on try `attempt` (0-based), or
        None to give up and raise."""
        retryable = isinstance(error, Unavailable) or (
            conflict_is_flaky and isinstance(error, Conflict)
        )
        if not retryable or attempt + 1 >= self.attempts:
            return None
        if error.retry_after is not None:
            return error.retry_after
        return backoff()


NO_RETRY = RetryPolicy(attempts=1)
BACKOFF = RetryPolicy(attempts=8)
FAIL_FAST = RetryPolicy(attempts=1, transport_retries=0)
