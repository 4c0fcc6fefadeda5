"""A level-triggered work queue: per object, the newest state wins and one run is in flight.

kopf delivers events; the watcher's handlers only put the object's latest body here and
return, so a slow Temporal call for one polecat never holds up the stream or another polecat.
Each key has at most one worker task. A failed run is retried with capped exponential backoff
(on the newest body, if another event arrived meanwhile), so a Temporal outage or an API error
delays the work but never loses it; the retry needs no state in the object itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from gastown.kube.retry import Backoff

log = logging.getLogger("gastown.watcher.queue")

K = TypeVar("K", bound=Hashable)


class Requeue(Exception):
    """Run again after `delay` seconds (waiting for something to happen), not a failure."""

    def __init__(self, delay: float, why: str = "") -> None:
        super().__init__(why)
        self.delay = delay


_NOTHING: Any = object()


class WorkQueue(Generic[K]):
    def __init__(
        self,
        name: str,
        handler: Callable[[K, Any], Awaitable[None]],
        *,
        initial_backoff: float = 0.2,
        max_backoff: float = 30.0,
    ) -> None:
        self.name = name
        self.handler = handler
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._latest: dict[K, Any] = {}
        self._workers: dict[K, asyncio.Task[None]] = {}
        self.failures = 0
        self.closed = False

    def put(self, key: K, item: Any) -> None:
        """Record the newest state of `key` and make sure a worker will handle it."""
        if self.closed:
            return
        self._latest[key] = item
        if key not in self._workers:
            task = asyncio.create_task(self._work(key), name=f"{self.name}:{key}")
            self._workers[key] = task

    def busy(self) -> int:
        return len(self._workers)

    async def idle(self) -> None:
        """Wait until no work is queued or running (tests and shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self) -> None:
        self.closed = True
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
        self._workers.clear()
        self._latest.clear()

    async def _work(self, key: K) -> None:
        backoff = Backoff(initial=self.initial_backoff, cap=self.max_backoff)
        try:
            while True:
                item = self._latest.pop(key, _NOTHING)
                if item is _NOTHING:
                    return
                try:
                    await self.handler(key, item)
                    backoff.reset()
                    continue
                except Requeue as again:
                    delay = again.delay
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.failures += 1
                    delay = backoff()
                    log.warning("%s %s: %s; retrying in %.1fs", self.name, key, exc, delay)
                # Retry the same state unless a newer one arrived meanwhile.
                self._latest.setdefault(key, item)
                await asyncio.sleep(delay)
        finally:
            self._workers.pop(key, None)
