"""How the pod worker runs one container: the small interface both runtimes implement.

`hostprocess.py` (the default, fast) runs a container as a local process; `containerrun.py`
(container mode) runs it with podman from the real image. The pod worker (podworker.py)
keeps everything Kubernetes-shaped that does not depend on the runtime: phases, conditions,
restarts, image pull outcomes, env resolution, termination messages, deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gastown.sandbox.podworker import ContainerRun, PodWorker


class Refused(Exception):
    """The container cannot be created as specified: it waits in CreateContainerConfigError
    with this message (the kubelet's words where it has them) until the pod is stopped."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StartFailed(Exception):
    """The runtime could not start the container's process: terminated, StartError, 128."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Exit:
    code: int
    oom: bool = False
    reason: str | None = None  # e.g. StartError: the runtime never started the process
    message: str | None = None


class Handle(Protocol):
    """A started container."""

    container_id: str

    def running(self) -> bool: ...

    async def wait(self) -> Exit: ...

    async def stop(self, grace: float) -> None:
        """SIGTERM, SIGKILL after `grace` seconds (at once when 0); returns once it is gone
        (then `wait()` returns at once)."""


class Runtime(Protocol):
    name: str

    async def image_missing(self, image: str) -> str | None:
        """Why the image cannot be used (a pull failure's message), or None."""

    async def launch(
        self, worker: PodWorker, c: ContainerRun, env: dict[str, str], log_path: Path
    ) -> Handle:
        """Create and start the container, its output appended to `log_path`.
        Raises Refused or StartFailed."""

    async def forget(self, worker: PodWorker) -> None:
        """The pod is over: remove whatever the runtime still holds for it."""

    async def close(self) -> None:
        """The sandbox stops: remove whatever the runtime still holds."""
