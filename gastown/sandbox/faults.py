"""Deterministic fault injection: the failures chaos tests need, reproducible by seed.

Rules are plain data so tests in-process (Python API) and out-of-process (the admin endpoint
`/_sandbox/faults`) configure them the same way. Each rule draws from its own seeded RNG, so a
given seed fails the same requests in the same order on every run.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class FaultRule:
    """Fail `share` of matching requests with `code` (500, 429 with Retry-After, or 409).

    verb: get|list|watch|create|update|patch|delete|deletecollection|* ; resource: plural,
    optionally with a subresource ("pods/status"), or "*". `times` bounds how many requests
    fail (None: unbounded). `latency` (seconds) delays matching requests whether or not they
    fail.
    """

    verb: str = "*"
    resource: str = "*"
    share: float = 1.0
    code: int | None = 500
    retry_after: int = 1
    latency: float = 0.0
    namespace: str | None = None
    times: int | None = None
    seed: int = 0
    hits: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible chaos, not crypto

    def matches(self, verb: str, resource: str, namespace: str | None) -> bool:
        if self.verb not in ("*", verb):
            return False
        if self.resource not in ("*", resource):
            return False
        return self.namespace is None or self.namespace == namespace

    def draw(self) -> bool:
        """Whether this request fails (advances the seeded RNG either way)."""
        roll = self._rng.random()
        if self.code is None or (self.times is not None and self.hits >= self.times):
            return False
        if roll < self.share:
            self.hits += 1
            return True
        return False

    def to_json(self) -> JSON:
        data = asdict(self)
        data.pop("_rng", None)
        return data


@dataclass
class WatchCut:
    """End matching watch streams after `after_seconds` or `after_events` (whichever first)."""

    resource: str = "*"
    after_seconds: float | None = None
    after_events: int | None = None


@dataclass
class Decision:
    latency: float = 0.0
    code: int | None = None
    retry_after: int | None = None


class Faults:
    """The set of active faults; thread-safe, because tests set them from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.watch_cuts: list[WatchCut] = []
        self.expire_next_watches = 0
        self.paused = False

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def fail(self, verb: str = "*", resource: str = "*", **kw: Any) -> FaultRule:
        return self.add(FaultRule(verb=verb, resource=resource, **kw))

    def cut_watches(
        self,
        resource: str = "*",
        after_seconds: float | None = None,
        after_events: int | None = None,
    ) -> WatchCut:
        cut = WatchCut(resource, after_seconds, after_events)
        with self._lock:
            self.watch_cuts.append(cut)
        return cut

    def expire_next_watch(self, count: int = 1) -> None:
        """The next `count` watches from a resourceVersion get an ERROR 410 Gone event."""
        with self._lock:
            self.expire_next_watches += count

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.watch_cuts.clear()
            self.expire_next_watches = 0

    def decide(self, verb: str, resource: str, namespace: str | None) -> Decision:
        decision = Decision()
        with self._lock:
            for rule in self.rules:
                if not rule.matches(verb, resource, namespace):
                    continue
                decision.latency += rule.latency
                if decision.code is None and rule.draw():
                    decision.code = rule.code
                    decision.retry_after = rule.retry_after if rule.code == 429 else None
        return decision

    def take_expiry(self) -> bool:
        with self._lock:
            if self.expire_next_watches > 0:
                self.expire_next_watches -= 1
                return True
            return False

    def watch_limits(self, resource: str) -> tuple[float | None, int | None]:
        seconds: float | None = None
        events: int | None = None
        with self._lock:
            for cut in self.watch_cuts:
                if cut.resource not in ("*", resource):
                    continue
                if cut.after_seconds is not None:
                    seconds = min(seconds or cut.after_seconds, cut.after_seconds)
                if cut.after_events is not None:
                    events = min(events or cut.after_events, cut.after_events)
        return seconds, events

    def to_json(self) -> JSON:
        with self._lock:
            return {
                "rules": [r.to_json() for r in self.rules],
                "watchCuts": [asdict(c) for c in self.watch_cuts],
                "expireNextWatches": self.expire_next_watches,
                "paused": self.paused,
            }

    def apply_json(self, data: JSON) -> None:
        """Admin endpoint payload: {"rules": [...], "watchCuts": [...], "expireNextWatches": n}."""
        for raw in data.get("rules", []):
            allowed = {
                k: v
                for k, v in raw.items()
                if k in FaultRule.__dataclass_fields__ and not k.startswith("_") and k != "hits"
            }
            self.add(FaultRule(**allowed))
        for raw in data.get("watchCuts", []):
            self.cut_watches(
                raw.get("resource", "*"), raw.get("after_seconds"), raw.get("after_events")
            )
        if data.get("expireNextWatches"):
            self.expire_next_watch(int(data["expireNextWatches"]))
