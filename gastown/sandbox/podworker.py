"""One pod's life on the sandbox node: the kubelet's pod worker.

Everything Kubernetes-shaped that does not depend on how a container runs lives here: phases,
conditions, init order, restarts and back-off, image pull outcomes, env resolution, termination
messages, deadlines, graceful stops. Running a container is the runtime's job (runtime.py): as
a local process (hostprocess.py, the default) or with podman from the real image
(containerrun.py, `SandboxConfig.containers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown.sandbox import clock, hostprocess, layout
from gastown.sandbox.runtime import Exit, Handle, Refused, StartFailed
from gastown.sandbox.store import POD_KEY
from gastown.sandbox.volumes import ConfigError, container_env, materialise

if TYPE_CHECKING:
    from gastown.sandbox.kubelet import Kubelet

JSON = dict[str, Any]
log = logging.getLogger(__name__)

MAX_TERMINATION_MESSAGE = 4096
CONFIG_RETRY_SECONDS = 1.0
PULL_BACKOFF_SECONDS = 1.0
_IMAGE_RE = re.compile(
    r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?/)?"  # registry host
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


def valid_image(image: str) -> bool:
    return bool(_IMAGE_RE.fullmatch(image))


def condition(
    kind: str, status: bool, reason: str | None = None, message: str | None = None
) -> JSON:
    cond: JSON = {
        "type": kind,
        "status": "True" if status else "False",
        "lastTransitionTime": clock.rfc3339(),
        "lastProbeTime": None,
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


@dataclass
class ContainerRun:
    spec: JSON
    init: bool
    state: JSON = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: JSON = field(default_factory=dict)
    restarts: int = 0
    handle: Handle | None = None
    ready: bool = False

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def status(self) -> JSON:
        image = self.spec.get("image", "")
        out: JSON = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restarts,
            "image": image,
            "imageID": f"sandbox://{image}",
            "started": "running" in self.state,
        }
        if self.handle is not None:
            out["containerID"] = self.handle.container_id
        return out


class PodWorker:
    """Drives one pod from scheduled to terminal: the kubelet's pod worker."""

    def __init__(self, kubelet: Kubelet, pod: JSON) -> None:
        self.kubelet = kubelet
        self.runtime = kubelet.runtime
        self.store = kubelet.store
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.dir = layout.pod_dir(kubelet.root, pod)
        self.inits = [ContainerRun(c, True) for c in pod["spec"].get("initContainers") or []]
        self.mains = [ContainerRun(c, False) for c in pod["spec"].get("containers") or []]
        for c in self.inits:
            c.state = (
                {"waiting": {"reason": "PodInitializing"}}
                if c is not self.inits[0]
                else {"waiting": {"reason": "ContainerCreating"}}
            )
        if self.inits:
            for c in self.mains:
                c.state = {"waiting": {"reason": "PodInitializing"}}
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.conditions: dict[str, JSON] = {}
        self.start_time = clock.rfc3339()
        self.task: asyncio.Task[None] | None = None
        self.stopping: asyncio.Event = asyncio.Event()
        self.grace = 30.0
        self.mounts: dict[str, Path] = {}
        self.done = asyncio.Event()

    # ------------------------------------------------------------------ status
    def publish(self) -> None:
        status: JSON = {
            "phase": self.phase,
            "conditions": [
                self.conditions[k]
                for k in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                    "DisruptionTarget",
                )
                if k in self.conditions
            ],
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "qosClass": (self.pod.get("status") or {}).get("qosClass", "BestEffort"),
            "containerStatuses": [c.status() for c in self.mains],
        }
        if self.inits:
            status["initContainerStatuses"] = [c.status() for c in self.inits]
        if self.reason:
            status["reason"] = self.reason
        if self.message:
            status["message"] = self.message
        rt = self.store.registry.by_key(POD_KEY)
        assert rt is not None
        self.pod = self.store.write_status(rt, self.pod, status)

    def setcondition(self, kind: str, value: bool, reason: str | None = None) -> None:
        old = self.conditions.get(kind)
        if (
            old is not None
            and old["status"] == ("True" if value else "False")
            and (old.get("reason") == reason)
        ):
            return
        self.conditions[kind] = condition(kind, value, reason)

    def event(self, reason: str, message: str, type_: str = "Normal") -> None:
        self.kubelet.event(self.pod, reason, message, type_)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.conditions["PodScheduled"] = condition("PodScheduled", True)
        self.setcondition("PodReadyToStartContainers", False)
        self.setcondition(
            "Initialized", not self.inits, None if not self.inits else "ContainersNotInitialized"
        )
        self.setcondition("Ready", False, "ContainersNotReady")
        self.setcondition("ContainersReady", False, "ContainersNotReady")
        self.publish()
        self.task = asyncio.create_task(self._run(), name=f"pod {self.uid}")

    async def _run(self) -> None:
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        try:
            if deadline is not None:
                async with asyncio.timeout(float(deadline)):
                    await self._lifecycle()
            else:
                await self._lifecycle()
        except TimeoutError:
            await self._kill_all(0, reason="DeadlineExceeded")
            self.phase, self.reason = "Failed", "DeadlineExceeded"
            self.message = "Pod was active on the node longer than the specified deadline"
            self._not_ready("PodFailed")
            self.event("DeadlineExceeded", self.message, "Warning")
            self.publish()
        except asyncio.CancelledError:
            await self._kill_all(0)
            raise
        except Exception:
            log.exception("sandbox kubelet: pod %s crashed", self.uid)
            # The pod is over: its other containers must not keep running unseen.
            with contextlib.suppress(Exception):
                await self._kill_all(0)
            self.phase, self.reason = "Failed", "SandboxError"
            self.publish()
        finally:
            self.done.set()
            self.kubelet.pod_finished(self)

    def _not_ready(self, reason: str) -> None:
        self.setcondition("Ready", False, reason)
        self.setcondition("ContainersReady", False, reason)
        for c in self.mains:
            c.ready = False

    async def _until_stopping(self, seconds: float) -> bool:
        """Wait `seconds` unless the pod is being stopped; True if stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()

    def _instant(self, c: ContainerRun) -> str | None:
        image = str(c.spec.get("image", ""))
        for pattern, message in self.kubelet.config.instant_images.items():
            if fnmatch.fnmatch(image, pattern):
                return message
        return None

    async def _pull_failure(self, image: str) -> str | None:
        """Why the image does not pull: scripted (pull_failing_images), or in container mode
        an image absent from local storage (nothing is ever pulled from a registry)."""
        if any(fnmatch.fnmatch(image, p) for p in self.kubelet.config.pull_failing_images):
            return (
                f"rpc error: code = NotFound desc = failed to pull and unpack image "
                f'"{image}": not found (sandbox: scripted pull failure)'
            )
        return await self.runtime.image_missing(image)

    async def _prepare(self) -> bool:
        """Images and volumes; False when the pod is stopped while waiting."""
        for c in self.inits + self.mains:
            image = str(c.spec.get("image", ""))
            if not valid_image(image):
                c.state = {
                    "waiting": {
                        "reason": "InvalidImageName",
                        "message": f'Failed to apply default image tag "{image}": '
                        f'couldn\'t parse image name "{image}": invalid '
                        "reference format",
                    }
                }
                self.event("InspectFailed", c.state["waiting"]["message"], "Warning")
                self.publish()
                await self.stopping.wait()
                return False
            message = await self._pull_failure(image)
            if message is not None:
                self.event("Pulling", f'Pulling image "{image}"')
                # Re-checked on every back-off: a test (or a registry coming back, or `make
                # images`) can make the image available, as after a real registry outage.
                while message is not None:
                    c.state = {"waiting": {"reason": "ErrImagePull", "message": message}}
                    self.event("Failed", f'Failed to pull image "{image}": {message}', "Warning")
                    self.publish()
                    if await self._until_stopping(PULL_BACKOFF_SECONDS):
                        return False
                    c.state = {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": f'Back-off pulling image "{image}"',
                        }
                    }
                    self.event("BackOff", f'Back-off pulling image "{image}"', "Warning")
                    self.publish()
                    if await self._until_stopping(PULL_BACKOFF_SECONDS * 4):
                        return False
                    message = await self._pull_failure(image)
                c.state = {"waiting": {"reason": "ContainerCreating"}}
                self.event("Pulled", f'Successfully pulled image "{image}"')
                self.publish()
        while True:
            try:
                self.mounts = materialise(self.store, self.pod, self.dir)
                break
            except ConfigError as exc:
                self.event("FailedMount", f"MountVolume.SetUp failed: {exc.message}", "Warning")
                if await self._until_stopping(CONFIG_RETRY_SECONDS):
                    return False
        self.setcondition("PodReadyToStartContainers", True)
        self.publish()
        return True

    async def _lifecycle(self) -> None:
        if not await self._prepare():
            return
        for c in self.inits:
            while True:
                code = await self._run_container(c)
                if code is None:
                    return
                if code == 0:
                    break
                if self.pod["spec"].get("restartPolicy") == "Never":
                    self.phase, self.reason = "Failed", None
                    self._not_ready("PodFailed")
                    self.setcondition("Initialized", False, "ContainersNotInitialized")
                    for m in self.mains:
                        m.state = {"waiting": {"reason": "PodInitializing"}}
                    self.publish()
                    return
                if await self._backoff(c):
                    return
        if self.inits:
            self.setcondition("Initialized", True)
            for m in self.mains:
                m.state = {"waiting": {"reason": "ContainerCreating"}}
            self.publish()
        # A task group, not gather: when one container's runner fails unexpectedly, its
        # siblings' runners are cancelled too (and then killed by _run's SandboxError branch).
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._run_main(c)) for c in self.mains]
        codes = [t.result() for t in tasks]
        if self.stopping.is_set() or any(code is None for code in codes):
            return
        self.phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        self._not_ready("PodCompleted" if self.phase == "Succeeded" else "PodFailed")
        self.publish()

    async def _run_main(self, c: ContainerRun) -> int | None:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        while True:
            code = await self._run_container(c)
            if code is None:
                return None
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return code
            if await self._backoff(c):
                return None

    async def _backoff(self, c: ContainerRun) -> bool:
        c.last_state = {"terminated": c.state.get("terminated", {})}
        c.restarts += 1
        delay = min(10.0 * 2 ** (c.restarts - 1), 300.0) / 10.0
        c.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {delay:.0f}s restarting failed container="
                f"{c.name} pod={self.pod['metadata']['name']}",
            }
        }
        self.event("BackOff", "Back-off restarting failed container", "Warning")
        self.publish()
        return await self._until_stopping(delay)

    # ------------------------------------------------------------------ containers
    # Process mode's path rewriting, kept here under its old name for callers and tests.
    rewrite = staticmethod(hostprocess.rewrite)

    def _termination_file(self, c: ContainerRun) -> Path:
        return self.dir / "termination" / c.name

    async def _run_container(self, c: ContainerRun) -> int | None:
        """Start, wait, record termination. None when the pod is being stopped."""
        if self.stopping.is_set():
            return None
        while True:
            try:
                env = container_env(self.store, self.pod, c.spec)
                break
            except ConfigError as exc:
                c.state = {
                    "waiting": {"reason": "CreateContainerConfigError", "message": exc.message}
                }
                self.event("Failed", f"Error: {exc.message}", "Warning")
                self.publish()
                if await self._until_stopping(CONFIG_RETRY_SECONDS):
                    return None
        term_file = self._termination_file(c)
        term_file.parent.mkdir(parents=True, exist_ok=True)
        term_file.write_bytes(b"")
        term_file.chmod(0o666)
        log_path = layout.log_file(self.kubelet.root, self.pod, c.name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if log_path.exists() and c.restarts:
            log_path.replace(log_path.with_suffix(".previous"))
        started = clock.rfc3339()
        instant = self._instant(c)
        if instant is not None:
            # A stand-in for an image that does its work in no time (benchmarks of what sits
            # around pods): no process, exit 0 with the scripted termination message.
            log_path.write_text("")
            self._terminated(c, 0, "Completed", instant, started)
            self.publish()
            return 0
        try:
            c.handle = await self.runtime.launch(self, c, env, log_path)
        except Refused as exc:
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": exc.message}}
            self.event("Failed", f"Error: {exc.message}", "Warning")
            self.publish()
            await self.stopping.wait()
            return None
        except StartFailed as exc:
            self._terminated(c, 128, "StartError", exc.message, started)
            self.event("Failed", f"Error: {exc.message}", "Warning")
            self.publish()
            return 128
        self.event("Created", f"Created container {c.name}")
        c.state = {"running": {"startedAt": started}}
        self.event("Started", f"Started container {c.name}")
        if not c.init:
            c.ready = True
            if all(m.ready for m in self.mains):
                self.setcondition("ContainersReady", True)
                self.setcondition("Ready", True)
                self.phase = "Running"
        else:
            self.phase = "Pending"
        if not c.init and self.phase != "Running":
            self.phase = "Running"
        self.publish()
        result = await c.handle.wait()
        if self.stopping.is_set() and self.reason != "DeadlineExceeded":
            self._terminated(c, result.code, None, None, started)
            return None
        if result.oom:
            self._terminated(c, 137, "OOMKilled", None, started)
        else:
            self._terminated(c, result.code, result.reason, result.message, started)
        if result.reason == "StartError":
            self.event("Failed", f"Error: {result.message}", "Warning")
        c.ready = False
        if not c.init:
            self.setcondition("ContainersReady", False, "ContainersNotReady")
            self.setcondition("Ready", False, "ContainersNotReady")
        self.publish()
        return result.code

    def _terminated(
        self, c: ContainerRun, code: int, reason: str | None, message: str | None, started: str
    ) -> None:
        if code < 0:  # killed by a signal: shells and runtimes report 128 + signal
            code = 128 - code
        if reason is None:
            reason = "Completed" if code == 0 else "Error"
        if message is None:
            message = self._termination_message(c, code)
        state: JSON = {
            "exitCode": code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": clock.rfc3339(),
        }
        if c.handle is not None:
            state["containerID"] = c.handle.container_id
        if message:
            state["message"] = message
        c.state = {"terminated": state}

    def _termination_message(self, c: ContainerRun, code: int) -> str:
        path = self._termination_file(c)
        data = b""
        with contextlib.suppress(OSError), path.open("rb") as fh:
            data = fh.read(MAX_TERMINATION_MESSAGE)
        if (
            not data
            and code != 0
            and c.spec.get("terminationMessagePolicy") == ("FallbackToLogsOnError")
        ):
            log_path = layout.log_file(self.kubelet.root, self.pod, c.name)
            with contextlib.suppress(OSError):
                lines = log_path.read_bytes().splitlines(keepends=True)[-80:]
                data = b"".join(lines)[-2048:]
        return data.decode(errors="replace")

    async def _kill_all(self, grace: float, reason: str | None = None) -> None:
        """SIGTERM every running container, SIGKILL after `grace` (at once when 0)."""
        self.stopping.set()
        running = [
            c for c in self.inits + self.mains if c.handle is not None and c.handle.running()
        ]
        stops = [c.handle.stop(grace) for c in running if c.handle is not None]
        await asyncio.gather(*stops, return_exceptions=True)
        for c in running:
            assert c.handle is not None
            if reason:
                result = await self._exit_of(c.handle)
                started = (c.state.get("running") or {}).get("startedAt", clock.rfc3339())
                self._terminated(c, result.code or 137, reason, None, started)
            c.ready = False
        # Whatever never started is left waiting; the pod is over.
        for c in self.inits + self.mains:
            if "running" in c.state:
                started = c.state["running"].get("startedAt", clock.rfc3339())
                self._terminated(c, 137, reason or "Error", None, started)

    @staticmethod
    async def _exit_of(handle: Handle) -> Exit:
        try:
            return await asyncio.wait_for(handle.wait(), 30)
        except Exception:
            return Exit(137)

    async def stop(self, grace: float, final_phase: str | None = None) -> None:
        """Graceful stop (deletion, eviction): SIGTERM, wait `grace`, SIGKILL."""
        if self.stopping.is_set() and self.done.is_set():
            return
        self.stopping.set()
        self.event("Killing", "Stopping container(s)")
        await self._kill_all(grace)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.runtime.forget(self)
        if final_phase:
            self.phase = final_phase
        self._not_ready("PodFailed")
        self.publish()
