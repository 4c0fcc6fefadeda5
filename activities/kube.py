"""The official client's pod watch for wait.py, and nothing else.

# until wait.py moves to the informer on gastown.kube (issue 9)

Every other activity calls gastown.kube directly. wait.py still streams its bounded watch with
`kubernetes.watch` in a thread; this adapter gives it that client on the worker's connection,
its one plain read through gastown.kube, and gastown.kube's errors (so a 404 or a 410 is the
same exception everywhere). It goes when wait.py does.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from gastown.kube import PODS, Gone, NotFound, reading
from gastown.kube import Kube as Boundary
from gastown.kube.errors import translate

__all__ = ["Gone", "Kube", "NotFound"]


@dataclass
class Kube:
    """What wait.py uses: `core` for its watch, `call` to run it in a thread, `get_pod`."""

    boundary: Boundary
    core: client.CoreV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.boundary.api)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
        except Exception as exc:
            err = translate(exc)
            if err is None:
                raise
            raise err from exc

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.boundary.run(reading.get(PODS, name, namespace))
