"""The Kubernetes side of the activities: the official client, run off the event loop.

The official client is synchronous; activities are async so they can heartbeat, be cancelled
and signal their workflow. Every call therefore goes through `Kube.call`, which runs it in a
thread and turns the API's answers into the errors the workflows' retry policies expect:
404 / 409 / 422 as typed exceptions, everything else (5xx, 429, connection trouble) left
retryable.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gastown.api.crd import GROUP, VERSION


class NotFound(Exception):
    pass


class Conflict(Exception):
    """409: AlreadyExists on create, or a stale resourceVersion on update."""


class Gone(Exception):
    """410: a watch asked for history the server no longer keeps; re-list and go on."""


class Invalid(Exception):
    """422: the API server's schema refused the object; retrying cannot help."""


def _translate(exc: ApiException) -> Exception:
    status = exc.status or 0
    message = _status_message(exc)
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 422:
        return Invalid(message)
    if status == 410:
        return Gone(message)
    return exc


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason)
    return str(body.get("message") or exc.reason)


@dataclass
class Kube:
    """Typed entry points to the API groups the activities use."""

    api: client.ApiClient

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
        except ApiException as exc:
            raise _translate(exc) from exc

    # Custom objects -------------------------------------------------------------------
    async def get_rig(self, name: str) -> dict[str, Any]:
        rig: dict[str, Any] = await self.call(
            self.custom.get_cluster_custom_object, GROUP, VERSION, "rigs", name
        )
        return rig

    async def get_polecat(self, namespace: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = await self.call(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, "polecats", name
        )
        return obj

    async def create_polecat(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = await self.call(
            self.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "polecats", body
        )
        return obj

    async def patch_polecat(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        obj: dict[str, Any] = await self.call(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "polecats",
            name,
            patch,
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
        )
        return obj

    async def list_polecats(
        self, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        if namespace is None:
            found = await self.call(
                self.custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                "polecats",
                label_selector=label_selector,
            )
        else:
            found = await self.call(
                self.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                "polecats",
                label_selector=label_selector,
            )
        items: list[dict[str, Any]] = found.get("items", [])
        return items

    # Core ------------------------------------------------------------------------------
    async def get_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's base64 data map. Callers decode only what they must check."""
        secret = await self.call(self.core.read_namespaced_secret, name, namespace)
        return {k: str(v) for k, v in (secret.data or {}).items()}

    async def raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The API's JSON as is: skips the client's model classes, which cost more CPU than
        the request itself on the dispatcher's hot path (see docs/benchmarks.md)."""
        resp = await self.call(fn, *args, _preload_content=False, **kwargs)
        data: dict[str, Any] = json.loads(resp.data)
        return data

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.raw(self.core.read_namespaced_pod, name, namespace)

    async def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.raw(self.core.create_namespaced_pod, namespace, body)

    def to_dict(self, obj: Any) -> dict[str, Any]:
        """An official-client model as the API's own JSON (camelCase), as the judge reads it."""
        data: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return data
