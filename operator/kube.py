"""The watcher's writes: the official client off the event loop, retried the way the API asks.

kopf does the watching (list, watch, re-list on 410, reconnect with backoff); every write the
watcher makes goes through `Api.call`, which retries what is worth retrying: 429 after the
server's Retry-After, 5xx and connection failures with capped exponential backoff. A 404 or a
409 is an answer, not a hiccup, and is raised as `NotFound`/`Conflict` for the caller to act
on (a merge patch without a resourceVersion can only see 409 from a flaky server, so those
callers pass `retry_conflicts=True`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from gastown.api.crd import GROUP, VERSION

log = logging.getLogger("gastown.watcher.kube")

MERGE = "application/merge-patch+json"


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class Unavailable(Exception):
    """Retries ran out; the caller's own loop tries again later."""


def _message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason)
    return str(body.get("message") or exc.reason)


def retry_after(exc: ApiException) -> float | None:
    """Seconds from a 429's Retry-After header (or the Status body's details)."""
    headers = exc.headers or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    try:
        details = json.loads(exc.body or "{}").get("details") or {}
        seconds = details.get("retryAfterSeconds")
        return float(seconds) if seconds is not None else None
    except (ValueError, AttributeError):
        return None


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


@dataclass
class Api:
    """Typed entry points for the few calls the watcher makes."""

    api: client.ApiClient
    attempts: int = 8

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.coordination = client.CoordinationV1Api(self.api)

    async def call(
        self, fn: Callable[..., Any], *args: Any, retry_conflicts: bool = False, **kwargs: Any
    ) -> Any:
        backoff = Backoff()
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
            except ApiException as exc:
                status = exc.status or 0
                if status == 404:
                    raise NotFound(_message(exc)) from exc
                if status == 409 and not retry_conflicts:
                    raise Conflict(_message(exc)) from exc
                if status not in (409, 429) and status < 500:
                    raise
                delay = retry_after(exc) if status == 429 else None
                if last:
                    raise Unavailable(f"{status}: {_message(exc)}") from exc
                await asyncio.sleep(backoff() if delay is None else delay)
            except (HTTPError, OSError) as exc:
                if last:
                    raise Unavailable(str(exc)) from exc
                await asyncio.sleep(backoff())
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- polecats
    async def get_polecat(self, namespace: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = await self.call(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, "polecats", name
        )
        return obj

    async def patch_polecat(
        self, namespace: str, name: str, patch: Any, *, json_patch: bool = False
    ) -> dict[str, Any]:
        """A merge patch (or a JSON patch, for list edits guarded by a `test`)."""
        kwargs: dict[str, Any] = {}
        if json_patch:
            kwargs["_content_type"] = "application/json-patch+json"
        obj: dict[str, Any] = await self.call(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "polecats",
            name,
            patch,
            retry_conflicts=not json_patch and "resourceVersion" not in _meta(patch),
            **kwargs,
        )
        return obj

    async def patch_polecat_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        obj: dict[str, Any] = await self.call(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            "polecats",
            name,
            patch,
            retry_conflicts="resourceVersion" not in _meta(patch),
            _content_type=MERGE,
        )
        return obj

    async def patch_rig_status(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = await self.call(
            self.custom.patch_cluster_custom_object_status,
            GROUP,
            VERSION,
            "rigs",
            name,
            patch,
            retry_conflicts=True,
            _content_type=MERGE,
        )
        return obj

    # ---------------------------------------------------------------- core
    async def pods_of(self, namespace: str, polecat: str) -> list[dict[str, Any]]:
        from gastown.api.identity import LABEL_POLECAT

        found = await self.call(
            self.core.list_namespaced_pod, namespace, label_selector=f"{LABEL_POLECAT}={polecat}"
        )
        return [self.api.sanitize_for_serialization(p) for p in found.items]

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        pre = client.V1Preconditions(uid=uid) if uid else None
        # Gone already, or replaced by a pod we do not own: either way nothing to delete.
        with contextlib.suppress(NotFound, Conflict):
            await self.call(
                self.core.delete_namespaced_pod,
                name,
                namespace,
                body=client.V1DeleteOptions(preconditions=pre),
            )

    async def secret_exists(self, namespace: str, name: str) -> bool:
        """Existence only: the Secret's data is dropped at once, never logged or returned."""
        try:
            await self.call(self.core.read_namespaced_secret, name, namespace)
        except NotFound:
            return False
        return True

    async def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        # Named from its content: a Conflict means an earlier try already recorded it.
        with contextlib.suppress(Conflict):
            await self.call(self.core.create_namespaced_event, namespace, body)


def _meta(patch: Any) -> dict[str, Any]:
    if isinstance(patch, dict):
        meta = patch.get("metadata")
        if isinstance(meta, dict):
            return meta
    return {}
