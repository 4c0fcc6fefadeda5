"""Finished polecat pods go once their TTL has passed: one schedule in memory, no workflow per pod.

When a polecat's workflow ends it annotates the pod with `ANNOTATION_DELETE_AFTER` (RFC 3339
UTC: now + the succeeded or failed TTL), and the pod stays for its logs until then. The watcher
already sees every polecat pod (kopf lists and watches them for the mirror), so it keeps the
deadlines in one heap and one timer task sleeping until the earliest: nothing polls the API,
no task waits per pod, and the Temporal UI no longer lists a reaper workflow per finished pod.
After a restart the schedule is rebuilt from the annotations in kopf's initial listing, so a
deadline that passed while no watcher ran is acted on at once.

The delete names the pod's UID (a precondition): a newer pod of the same name, or one that is
gone already, is left alone. Deletes go through a work queue (one per pod at a time, retried
with backoff), never from the timer itself, so a slow API call holds up no other deadline. Only
a leading watcher watches at all; `stop()` halts the timer and every queued delete at once,
which the process does the moment it loses the Lease.

The heap may hold superseded entries (an annotation changed, a pod deleted): `_due` is the one
current deadline per pod, and an entry popped from the heap that is not it is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gastown.api.identity import ANNOTATION_DELETE_AFTER
from gastown.kube import PODS, Kube, timestamps, writing
from gastown.operator.queue import WorkQueue

log = logging.getLogger("gastown.watcher.podttl")

Key = tuple[str, str]  # (namespace, pod)
# The timer looks at the wall clock at least this often, so a clock that jumped (or a deadline
# computed before a suspend) is noticed without relying on one long sleep.
MAX_SLEEP_SECONDS = 60.0


@dataclass(frozen=True, order=True)
class Due:
    when: datetime
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


@dataclass(frozen=True)
class Deletion:
    """One delete the watcher issued (kept for a while: logs and tests)."""

    due: Due
    at: datetime
    deleted: bool  # False: the pod (of that UID) was gone already


@dataclass
class PodTTL:
    api: Kube
    max_sleep: float = MAX_SLEEP_SECONDS
    queue: WorkQueue[Key] = field(init=False)
    recent: deque[Deletion] = field(default_factory=lambda: deque(maxlen=256))
    deleted: int = 0
    _due: dict[Key, Due] = field(default_factory=dict)
    _heap: list[Due] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _timer: asyncio.Task[None] | None = None
    _active: bool = False

    def __post_init__(self) -> None:
        self.queue = WorkQueue("pod-ttl", self._delete, initial_backoff=0.5, max_backoff=30.0)

    # ---------------------------------------------------------------- events
    def on_pod(self, event_type: str | None, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        text = (meta.get("annotations") or {}).get(ANNOTATION_DELETE_AFTER)
        if event_type == "DELETED" or not text or meta.get("deletionTimestamp"):
            self._due.pop(key, None)
            return
        try:
            when = timestamps.parse(str(text))
        except ValueError:
            log.warning(
                "pod %s/%s: %s=%r is not an RFC 3339 time; the pod is kept",
                *key,
                ANNOTATION_DELETE_AFTER,
                text,
            )
            self._due.pop(key, None)
            return
        due = Due(when, key[0], key[1], str(meta["uid"]))
        if self._due.get(key) == due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, due)
        if len(self._heap) > 2 * len(self._due) + 64:  # mostly superseded entries: compact
            self._heap = sorted(self._due.values())
        if self._heap[0] == due:
            self._wake.set()  # a new earliest deadline

    def scheduled(self, namespace: str, name: str) -> Due | None:
        """The pod's current deadline, if it has one."""
        return self._due.get((namespace, name))

    def overdue(self) -> int:
        """Deadlines that have passed but the timer has not taken yet (superseded ones too)."""
        now = datetime.now(UTC)
        return sum(1 for due in self._heap if due.when <= now)

    # ---------------------------------------------------------------- timer
    def start(self) -> None:
        self._active = True
        if self._timer is None:
            self._timer = asyncio.create_task(self._run(), name="pod-ttl")

    async def stop(self) -> None:
        """Act no more (idempotent): the timer and every queued delete are cancelled."""
        self._active = False
        if self._timer is not None:
            timer, self._timer = self._timer, None
            timer.cancel()
            await asyncio.wait({timer})  # its end, without swallowing a cancellation of ours
        await self.queue.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = datetime.now(UTC)
            while self._heap and self._heap[0].when <= now:
                due = heapq.heappop(self._heap)
                if self._due.get(due.key) == due:
                    self.queue.put(due.key, due)
            delay = (self._heap[0].when - now).total_seconds() if self._heap else self.max_sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(max(delay, 0.0), self.max_sleep))

    async def _delete(self, key: Key, due: Due) -> None:
        if not self._active or self._due.get(key) != due:
            return  # stopped, or superseded (annotation changed, pod gone or replaced)
        deleted = await self.api.run(writing.delete(PODS, due.name, due.namespace, uid=due.uid))
        if self._due.get(key) == due:
            del self._due[key]
        self.recent.append(Deletion(due, datetime.now(UTC), deleted))
        if deleted:
            self.deleted += 1
            log.info("deleted pod %s/%s: its TTL passed at %s", *key, due.when.isoformat())
