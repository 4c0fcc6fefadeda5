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
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio.common import MetricGauge, MetricHistogramFloat, MetricMeter

from gastown.kube.retry import Backoff
from gastown.workflows.metrics import WATCHER_EVENT_LAG, WATCHER_QUEUE_DEPTH

log = logging.getLogger("gastown.watcher.queue")

K = TypeVar("K", bound=Hashable)


class Requeue(Exception):
    """Run again after `delay` seconds (waiting for something to happen), not a failure."""

    def __init__(self, delay: float, why: str = "") -> None:
        super().__init__(why)
        self.delay = delay


_NOTHING: Any = object()


@dataclass(frozen=True)
class QueueMetrics:
    """The watcher's view of its queues: how many objects wait for a run (depth) and how long
    an event waited from its arrival to the start of its run (lag), by queue."""

    depth: MetricGauge
    lag: MetricHistogramFloat

    @classmethod
    def of(cls, meter: MetricMeter) -> QueueMetrics:
        return cls(
            meter.create_gauge(WATCHER_QUEUE_DEPTH, "Objects waiting for a run, by work queue"),
            meter.create_histogram_float(
                WATCHER_EVENT_LAG, "From an event's arrival to the start of its run", "s"
            ),
        )


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
        self._since: dict[K, float] = {}  # when the state waiting to be run arrived
        self.failures = 0
        self.closed = False
        self.metrics: QueueMetrics | None = None

    def _depth(self) -> None:
        if self.metrics is not None:
            self.metrics.depth.set(len(self._latest), {"queue": self.name})

    def put(self, key: K, item: Any) -> None:
        """Record the newest state of `key` and make sure a worker will handle it."""
        if self.closed:
            return
        self._latest[key] = item
        self._since.setdefault(key, asyncio.get_running_loop().time())
        self._depth()
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
        self._since.clear()
        self._depth()

    async def _work(self, key: K) -> None:
        backoff = Backoff(initial=self.initial_backoff, cap=self.max_backoff)
        try:
            while True:
                item = self._latest.pop(key, _NOTHING)
                if item is _NOTHING:
                    return
                since = self._since.pop(key, None)
                if self.metrics is not None:
                    self._depth()
                    if since is not None:
                        lag = asyncio.get_running_loop().time() - since
                        self.metrics.lag.record(lag, {"queue": self.name})
                try:
                    await self.handler(key, item)
                    backoff.reset()
                    continue
                except Requeue as again:
                    delay = again.delay
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # A cancelled call may come back as an error, not as CancelledError: the
                    # Temporal client turns a cancelled update RPC into "Timeout or
                    # cancellation waiting for update". Retrying it would swallow the
                    # cancellation, and close() (and the watcher's shutdown) would wait forever.
                    task = asyncio.current_task()
                    if self.closed or (task is not None and task.cancelling()):
                        raise asyncio.CancelledError from exc
                    self.failures += 1
                    delay = backoff()
                    log.warning("%s %s: %s; retrying in %.1fs", self.name, key, exc, delay)
                # Retry the same state unless a newer one arrived meanwhile.
                self._latest.setdefault(key, item)
                self._depth()
                await asyncio.sleep(delay)
        finally:
            self._workers.pop(key, None)
