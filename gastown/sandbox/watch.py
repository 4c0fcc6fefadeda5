"""Watch plumbing: events in the store's history and per-client subscriptions.

A watcher applies its selectors to both the old and the new object, so an object that starts
or stops matching shows up as ADDED or DELETED — what the apiserver's watch cache does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
Matcher = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Event:
    rv: int
    key: tuple[str, str]
    type: str  # ADDED | MODIFIED | DELETED
    obj: JSON
    old: JSON | None = None


class Watcher:
    """One watch stream's subscription: a queue of (type, object) already filtered."""

    def __init__(
        self, key: tuple[str, str], namespace: str | None, match: Matcher, internal: bool = False
    ) -> None:
        self.key = key
        self.internal = internal  # the sandbox's own controllers: never cut by chaos
        self.namespace = namespace
        self.match = match
        self.queue: asyncio.Queue[tuple[str, JSON] | None] = asyncio.Queue()
        self.closed = False

    def translate(self, event: Event) -> tuple[str, JSON] | None:
        obj_ns = event.obj.get("metadata", {}).get("namespace")
        if self.namespace is not None and obj_ns != self.namespace:
            return None
        if event.type == "MODIFIED":
            now_in = self.match(event.obj)
            was_in = event.old is not None and self.match(event.old)
            if now_in and was_in:
                return ("MODIFIED", event.obj)
            if now_in:
                return ("ADDED", event.obj)
            if was_in:
                return ("DELETED", event.obj)
            return None
        if self.match(event.obj):
            return (event.type, event.obj)
        return None

    def offer(self, event: Event) -> None:
        item = self.translate(event)
        if item is not None and not self.closed:
            self.queue.put_nowait(item)

    def close(self) -> None:
        """End the stream (the server side going away, e.g. at shutdown)."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
