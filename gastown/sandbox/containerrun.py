"""Container mode: a pod container runs with podman from the real, local image.

podman.py builds the argv (pure); this module runs it: `podman image exists` (no pulls ever:
a missing image is a pull failure), `podman image inspect` (USER for runAsNonRoot), the env
file (0600, removed once podman has read it; values never appear in an argv), `podman create`,
then `podman start --attach` with the container's stdout and stderr appended to the same log
file process mode writes (so `kubectl logs` works alike), `podman inspect` for the exit code,
and `podman rm` as soon as the container has stopped. Containers are named from the pod's uid
and the container's name and labelled with the sandbox's state directory, so a stopping
sandbox removes exactly its own and nothing of a neighbour's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from gastown.sandbox import podman
from gastown.sandbox.runtime import Exit, Refused, StartFailed

if TYPE_CHECKING:
    from gastown.sandbox.cluster import SandboxConfig
    from gastown.sandbox.podworker import ContainerRun, PodWorker

log = logging.getLogger(__name__)
JSON = dict[str, Any]
PODMAN_TIMEOUT = 120.0


class PodmanMissing(RuntimeError):
    pass


def is_git_repository(path: str) -> bool:
    """A `file://` URL is mounted only if it names a git repository (bare: HEAD and objects/;
    or a work tree with .git): never an arbitrary host tree such as /root or /home."""
    p = Path(path)
    bare = (p / "HEAD").is_file() and (p / "objects").is_dir()
    return p.is_dir() and (bare or (p / ".git").exists())


def subpath_dir(volume: Path, sub: str) -> Path:
    """The host path of a volume's subPath, created as the kubelet creates it, refusing any
    symlinked component: an earlier container may have planted `link -> /` in the volume,
    and the root runner must neither follow it nor mount what it names (CVE-2017-1002101)."""
    root = Path(os.path.realpath(volume))
    current = root
    for part in PurePosixPath(sub).parts:
        if part in ("/", ".", ".."):
            raise Refused(f"sandbox: subPath {sub!r} must be a relative path without '..'")
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current)  # never follows: a symlink here would be EEXIST
            st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode):
            raise Refused(
                f"failed to prepare subPath {sub!r}: {current.relative_to(root)} is a symbolic "
                "link (sandbox container mode refuses symlinks in a subPath)"
            )
    real = Path(os.path.realpath(current))
    if not real.is_relative_to(root):
        raise Refused(f"failed to prepare subPath {sub!r}: it leaves its volume")
    return current


class ContainerHandle:
    """A started podman container; `podman start --attach` carries its output."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        name: str,
        container_id: str,
        attach: asyncio.subprocess.Process,
        log_path: Path,
        memory_limited: bool,
    ) -> None:
        self.runtime = runtime
        self.name = name
        self.container_id = f"podman://{container_id}"
        self.attach = attach
        self.log_path = log_path
        self.memory_limited = memory_limited
        self.stopped = False
        # One finisher, shielded: a cancelled pod task must not leave the container behind.
        self._finished = asyncio.ensure_future(self._finish())

    def running(self) -> bool:
        return not self._finished.done()

    async def _finish(self) -> Exit:
        code = await self.attach.wait()
        try:
            state = await self.runtime.state(self.name)
        finally:
            await self.runtime.remove(self.name)
        if state is None:
            return Exit(code if code >= 0 else 128 - code)
        if not state.get("StartedAt") or str(state["StartedAt"]).startswith("0001-"):
            # The runtime never started the process (exec format, missing binary): podman
            # printed why into the log. The container wrote nothing: the log keeps nothing.
            message = ""
            with contextlib.suppress(OSError):
                lines = self.log_path.read_text(errors="replace").strip().splitlines()
                message = lines[-1].removeprefix("Error: ") if lines else ""
                self.log_path.write_bytes(b"")
            return Exit(128, reason="StartError", message=message or "container never started")
        code = int(state.get("ExitCode", code))
        # cgroup v1 with runc: podman's OOMKilled flag is not set, the kernel's SIGKILL is all
        # that shows. A 137 we did not cause, in a memory-limited container, is the OOM killer.
        oom = bool(state.get("OOMKilled")) or (
            code == 137 and self.memory_limited and not self.stopped
        )
        return Exit(137, oom=True) if oom else Exit(code)

    async def wait(self) -> Exit:
        return await asyncio.shield(self._finished)

    async def stop(self, grace: float) -> None:
        self.stopped = True
        if self.running():
            if grace > 0:
                # podman stop: the image's stop signal (SIGTERM), SIGKILL after --time.
                seconds = math.ceil(grace)
                # podman waits --time seconds before SIGKILL: the call must outlast it.
                await self.runtime.call(
                    "stop", f"--time={seconds}", "--", self.name, limit=stop_timeout(seconds)
                )
            else:
                await self.runtime.call("kill", "--signal=KILL", "--", self.name)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._finished), PODMAN_TIMEOUT)


def stop_timeout(grace_seconds: int) -> float:
    """How long `podman stop --time=N` may take: the grace period plus podman's own margin."""
    return grace_seconds + PODMAN_TIMEOUT


class ContainerRuntime:
    name = "containers"

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.binary = config.podman
        self.state_label = str(config.state_dir.resolve())
        self._secrets: dict[str, list[str]] = {}  # container name -> its env secrets

    async def call(self, *args: str, limit: float = PODMAN_TIMEOUT) -> tuple[int, str, str]:
        """Run podman (argv, no shell); (exit code, stdout, stderr). On timeout or
        cancellation podman is killed and reaped: no podman outlives its caller."""
        proc = await asyncio.create_subprocess_exec(
            *podman.base(self.binary),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env(),
            cwd=self._cwd(),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
            raise
        assert proc.returncode is not None
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def _cwd(self) -> str:
        """podman's (and conmon's) working directory: conmon writes an `oom` marker file
        there, which must land in the sandbox's state, never in the caller's directory."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        return str(self.config.state_dir)

    @staticmethod
    def _env() -> dict[str, str]:
        """podman's own environment: the runner's PATH, HOME and LANG, nothing of a pod's
        (the dynamic loader and podman read their environment as root)."""
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        return env

    async def check(self) -> None:
        """Fail loudly at start when podman cannot run here."""
        try:
            code, _, err = await self.call("version", "--format={{.Client.Version}}")
        except FileNotFoundError:
            raise PodmanMissing(
                f"container mode needs podman ({self.binary!r} not found): run "
                "`make container-tools` (as root), then `make images`"
            ) from None
        if code != 0:
            raise PodmanMissing(f"container mode: `podman version` failed: {err.strip()}")
        await self.sweep()

    async def sweep(self) -> None:
        """Remove sandbox containers whose sandbox is gone (its state directory no longer
        exists): what a killed sandbox left behind, with the pod's environment inside."""
        code, out, _ = await self.call(
            "ps",
            "--all",
            f"--filter=label={podman.LABEL}",
            f'--format={{{{.ID}}}} {{{{index .Labels "{podman.LABEL_STATE}"}}}}',
        )
        if code != 0:
            return
        orphans = podman.orphaned_containers(out, os.path.isdir)
        if orphans:
            await self.call("rm", "--force", "--ignore", "--", *orphans)

    async def image_missing(self, image: str) -> str | None:
        code, _, _ = await self.call("image", "exists", "--", image)
        if code == 0:
            return None
        return (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            "not found (sandbox container mode pulls nothing: the image must be in local podman "
            "storage, e.g. `make images`)"
        )

    async def image_config(self, image: str) -> podman.ImageConfig:
        code, out, err = await self.call(
            "image", "inspect", "--format={{json .Config}}", "--", image
        )
        if code != 0:
            raise StartFailed(f"failed to inspect image {image}: {err.strip()}")
        return podman.ImageConfig.from_inspect(json.loads(out or "{}"))

    async def state(self, name: str) -> JSON | None:
        code, out, _ = await self.call("inspect", "--format={{json .State}}", "--", name)
        if code != 0:
            return None
        state: JSON = json.loads(out)
        return state

    async def remove(self, name: str) -> None:
        await self.call("rm", "--force", "--ignore", "--", name)
        # The container's multi-line variables (podman secrets) go with it.
        secrets = self._secrets.pop(name, [])
        if secrets:
            await self.call("secret", "rm", "--", *secrets)

    async def _create_secret(self, secret: str, value: str, path: Path) -> None:
        """A multi-line variable as a podman secret (podman reads it when the container
        starts; it is removed with the container). The value passes through a 0600 file,
        removed at once: never podman's argv or environment."""
        container = secret.split(".env.", 1)[0]
        await self.call("secret", "rm", "--", secret)  # a leftover of a restarted container
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
            code, _, err = await self.call("secret", "create", "--", secret, str(path))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if code != 0:
            raise StartFailed(f"failed to create container: podman secret: {err.strip()}")
        self._secrets.setdefault(container, []).append(secret)

    def _file_mounts(self, worker: PodWorker, values: list[str]) -> list[podman.Mount]:
        """`file://` paths the container names (a rig's repository), at the same path."""
        refused = (self.state_label, str(worker.kubelet.root.resolve()))
        mounts = []
        for path in podman.file_url_paths(values):
            real = os.path.realpath(path)
            if not os.path.exists(real):
                continue  # as on a real node: the URL names nothing there
            if not podman.allowed_host_path(real, refused) or not podman.allowed_host_path(
                path, refused
            ):
                worker.event(
                    "Failed",
                    f"sandbox: not mounting file:// path {path} (a system directory or the "
                    "sandbox's state)",
                    "Warning",
                )
                continue
            if not is_git_repository(real):
                worker.event(
                    "Failed",
                    f"sandbox: not mounting file:// path {path} (not a git repository)",
                    "Warning",
                )
                continue
            mounts.append(podman.Mount(real, path))
        return mounts

    async def launch(
        self, worker: PodWorker, c: ContainerRun, env: dict[str, str], log_path: Path
    ) -> ContainerHandle:
        """Create and start one container. What podman does unexpectedly (a timeout, output
        that is not JSON, a missing binary) is this container's start failure, not the pod's."""
        try:
            return await self._launch(worker, c, env, log_path)
        except (Refused, StartFailed):
            raise
        except (TimeoutError, ValueError, OSError) as exc:
            raise StartFailed(f"sandbox: podman failed ({type(exc).__name__})") from None

    async def _launch(
        self, worker: PodWorker, c: ContainerRun, env: dict[str, str], log_path: Path
    ) -> ContainerHandle:
        pod, spec = worker.pod, c.spec
        image = await self.image_config(str(spec["image"]))
        refused = podman.non_root_violation(pod, spec, image)
        if refused:
            raise Refused(refused)
        env = {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(worker.kubelet.api_port),
            **env,
        }
        text, multi = podman.split_env(env)
        cname = podman.container_name(worker.uid, c.name)
        secrets = [(podman.env_secret_name(cname, var), var) for var in multi]
        env_dir = worker.dir / "env"
        env_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        env_file = env_dir / c.name
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        values = [*env.values(), *(spec.get("command") or []), *(spec.get("args") or [])]
        for m in spec.get("volumeMounts") or []:
            if m.get("subPath") and m["name"] in worker.mounts:
                subpath_dir(worker.mounts[m["name"]], str(m["subPath"]))
        run = podman.run_spec(
            pod,
            spec,
            image=image,
            volumes={k: str(v) for k, v in worker.mounts.items()},
            termination_file=str(worker.dir / "termination" / c.name),
            env_file=str(env_file),
            env_secrets=secrets,
            extra_mounts=self._file_mounts(worker, values),
            labels={
                podman.LABEL: "1",
                podman.LABEL_POD: worker.uid,
                podman.LABEL_STATE: self.state_label,
            },
        )
        await self.remove(run.name)  # a previous run of a restarted container
        try:
            for (secret, var), value in zip(secrets, multi.values(), strict=True):
                await self._create_secret(secret, value, env_dir / f"{c.name}.{var}")
            code, out, err = await self.call(
                *podman.create_argv(self.binary, run)[len(podman.base(self.binary)) :]
            )
        finally:
            env_file.unlink(missing_ok=True)
        if code != 0:
            raise StartFailed(f"failed to create container: {err.strip()}")
        container_id = out.strip()
        try:
            attach = await self._attach(run.name, log_path, worker.dir)
        except BaseException:
            # A created container holds the pod's environment: never leave it behind.
            with contextlib.suppress(BaseException):
                await asyncio.shield(self.remove(run.name))
            raise
        limited = run.memory is not None
        return ContainerHandle(self, run.name, container_id, attach, log_path, limited)

    async def _attach(self, name: str, log_path: Path, cwd: Path) -> asyncio.subprocess.Process:
        with log_path.open("ab") as logf:
            return await asyncio.create_subprocess_exec(
                *podman.base(self.binary),
                "start",
                "--attach",
                "--",
                name,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logf,
                stderr=asyncio.subprocess.STDOUT,
                env=self._env(),
                cwd=str(cwd),  # conmon's `oom` marker goes into the pod's directory
            )

    async def forget(self, worker: PodWorker) -> None:
        for c in worker.inits + worker.mains:
            await self.remove(podman.container_name(worker.uid, c.name))

    async def close(self) -> None:
        code, out, _ = await self.call(
            "ps", "--all", "--quiet", f"--filter=label={podman.LABEL_STATE}={self.state_label}"
        )
        ids = out.split()
        if code == 0 and ids:
            await self.call("rm", "--force", "--ignore", "--", *ids)
        secrets = [s for names in self._secrets.values() for s in names]
        self._secrets.clear()
        if secrets:
            await self.call("secret", "rm", "--", *secrets)
