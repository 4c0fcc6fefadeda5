"""The official client for the pod informer and wait.py, and nothing else.

# until wait.py moves to the informer on gastown.kube (issue 9)

Every other activity calls gastown.kube directly. The shared pod informer (podwatch.py) still
lists and streams its watch with the official client's API classes on a thread of its own;
this adapter gives it that client on the worker's gastown.kube connection, wait.py its one
plain read through gastown.kube, and both gastown.kube's errors (so a 404 or a 410 is the same
exception everywhere). It goes when the informer moves onto gastown.kube.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from gastown.kube import PODS, Gone, NotFound, reading
from gastown.kube import Kube as Boundary
from gastown.kube.errors import translate

__all__ = ["Gone", "Kube", "NotFound"]


def _translate(exc: BaseException) -> BaseException:
    """gastown.kube's error for what the official client raised; anything else unchanged."""
    return translate(exc) or exc


@dataclass
class Kube:
    """What the informer and wait.py use: `core` (the API classes the informer lists and
    watches with), `call`/`raw` to run one of its calls in a thread, `get_pod`."""

    boundary: Boundary
    core: client.CoreV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.boundary.api)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
        except Exception as exc:
            raise _translate(exc) from exc

    async def raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The API's JSON as is, without the client's model classes."""
        resp = await self.call(fn, *args, _preload_content=False, **kwargs)
        data: dict[str, Any] = json.loads(resp.data)
        return data

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.boundary.run(reading.get(PODS, name, namespace))
