"""Process mode (the default, fast runtime): a pod container as a local process.

Images: a container runs its `command` + `args` on the host (argv, never a shell). With no
`command`, `SandboxConfig.image_commands` (fnmatch patterns) stands in for the image's
ENTRYPOINT and the container's `args` are appended, as Kubernetes appends them to a real
ENTRYPOINT; an image with no mapping fails to start (StartError): a laptop has no image
filesystems.

Paths: volumes are directories under the pod's directory. A container's view of the filesystem
cannot be changed without namespaces, so the runner rewrites paths instead: in `command`,
`args`, env values and `workingDir`, every volume mountPath and the terminationMessagePath is
replaced by its host directory/file (longest prefix first). Programs that take their paths from
env/args (as gt-polecat does) therefore run unchanged; a hard-coded path is not mapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gastown.sandbox.expand import expand
from gastown.sandbox.quantity import parse_quantity
from gastown.sandbox.runtime import Exit, Refused, StartFailed

if TYPE_CHECKING:
    from gastown.sandbox.podworker import ContainerRun, PodWorker

OOM_POLL_SECONDS = 0.1


def _rss(pid: int) -> int:
    """Resident set size of a process, in bytes (Linux /proc)."""
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rewrite(value: str, pairs: list[tuple[str, str]]) -> str:
    """Replace container paths by host paths where a path starts (after start, space,
    quote, `=`, `:` or `,`), so argv, env values and inline scripts all see host paths."""
    if not pairs:
        return value
    # One pass, longest path first: a host path (often under /tmp) must never be rewritten
    # again by a shorter mount such as /tmp.
    hosts = dict(pairs)
    alternatives = "|".join(re.escape(path) for path, _ in pairs)
    pattern = r"(^|[\s=:,'\"])(" + alternatives + r")(?=$|[\s/:,'\";])([^\s:,'\";]*)"

    def replace(m: re.Match[str]) -> str:
        lead, mount, rest = m.group(1), m.group(2), m.group(3)
        # A longer path that exists on the host is the host's own (a program in a checkout
        # under /tmp, say), not a file inside the pod's mount: leave it alone.
        if rest.strip("/") and os.path.exists(mount + rest):
            return m.group(0)
        return lead + hosts[mount] + rest

    return re.sub(pattern, replace, value)


class ProcessHandle:
    """A container's process group; memory limits enforced by polling its RSS."""

    def __init__(self, process: asyncio.subprocess.Process, memory_limit: float | None) -> None:
        self.process = process
        self.container_id = f"sandbox://{process.pid}"
        self.memory_limit = memory_limit
        self.oom = False

    def running(self) -> bool:
        return self.process.returncode is None

    async def wait(self) -> Exit:
        watchdog = asyncio.create_task(self._oom_watch())
        try:
            code = await self.process.wait()
        finally:
            watchdog.cancel()
        if code < 0:  # killed by a signal: shells and runtimes report 128 + signal
            code = 128 - code
        return Exit(137, oom=True) if self.oom else Exit(code)

    async def _oom_watch(self) -> None:
        """Memory limit enforcement: a process over its limit is SIGKILLed as OOMKilled."""
        if self.memory_limit is None:
            return
        pid = self.process.pid
        while self.process.returncode is None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _rss(pid) > self.memory_limit:
                    self.oom = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    return
            await asyncio.sleep(OOM_POLL_SECONDS)

    async def stop(self, grace: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        try:
            await asyncio.wait_for(self.process.wait(), grace if grace > 0 else 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


class ProcessRuntime:
    name = "process"

    async def image_missing(self, image: str) -> str | None:
        return None  # no image store: pull failures are scripted (pull_failing_images)

    async def forget(self, worker: PodWorker) -> None:
        return None

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------ paths
    @staticmethod
    def termination_file(worker: PodWorker, c: ContainerRun) -> Path:
        return worker.dir / "termination" / c.name

    def path_map(self, worker: PodWorker, c: ContainerRun) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for m in c.spec.get("volumeMounts") or []:
            host = worker.mounts.get(m["name"])
            if host is None:
                continue
            if m.get("subPath"):
                host = host / m["subPath"]
                host.mkdir(parents=True, exist_ok=True)
            pairs.append((m["mountPath"].rstrip("/") or "/", str(host)))
        pairs.append(
            (
                c.spec.get("terminationMessagePath", "/dev/termination-log"),
                str(self.termination_file(worker, c)),
            )
        )
        pairs.sort(key=lambda p: len(p[0]), reverse=True)
        return pairs

    def argv(self, worker: PodWorker, c: ContainerRun, env: dict[str, str]) -> list[str]:
        command = list(c.spec.get("command") or [])
        args = list(c.spec.get("args") or [])
        if not command:
            image = str(c.spec.get("image", ""))
            for pattern, entrypoint in worker.kubelet.config.image_commands.items():
                if fnmatch.fnmatch(image, pattern):
                    command = list(entrypoint)
                    break
            else:
                raise StartFailed(
                    f'failed to create containerd task: exec: no command for image "{image}"'
                    " (sandbox: set command or SandboxConfig.image_commands)"
                )
        if not command + args:
            raise StartFailed(
                "failed to create containerd task: exec: no command and no args "
                "(sandbox: the image's CMD is not emulated in process mode)"
            )
        # Rewrite the templates, then expand: env values are already host paths.
        pairs = self.path_map(worker, c)
        return [expand(rewrite(a, pairs), env) for a in command + args]

    def process_env(
        self, worker: PodWorker, c: ContainerRun, env: dict[str, str], pairs: list[tuple[str, str]]
    ) -> dict[str, str]:
        uid = self._uid(worker, c)
        base = {
            "PATH": os.pathsep.join(
                [
                    *(str(d) for d in worker.kubelet.config.bin_dirs),
                    str(Path(sys.executable).parent),
                    os.environ.get("PATH", "/usr/bin:/bin"),
                ]
            ),
            "HOSTNAME": worker.pod["metadata"]["name"],
            "HOME": env.get("HOME", "/root" if uid in (None, 0) else "/tmp"),  # noqa: S108
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(worker.kubelet.api_port),
        }
        # A volume at /tmp is the container's temp dir; on the host, TMPDIR says so.
        tmp = dict(pairs).get("/tmp")  # noqa: S108
        if tmp is not None:
            base["TMPDIR"] = tmp
        return {**base, **env}

    # ------------------------------------------------------------------ users
    @staticmethod
    def _uid(worker: PodWorker, c: ContainerRun) -> int | None:
        pod_sc = worker.pod["spec"].get("securityContext") or {}
        sc = c.spec.get("securityContext") or {}
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        return int(uid) if uid is not None else None

    @staticmethod
    def _gid(worker: PodWorker, c: ContainerRun) -> int | None:
        pod_sc = worker.pod["spec"].get("securityContext") or {}
        sc = c.spec.get("securityContext") or {}
        gid = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
        return int(gid) if gid is not None else None

    def _non_root_violation(
        self, worker: PodWorker, c: ContainerRun, effective_uid: int | None
    ) -> str | None:
        """runAsNonRoot, as the kubelet checks it. Images have no USER here: they run as the
        runner, so without runAsUser a root runner violates the policy."""
        if not worker.kubelet.config.honour_run_as_user:
            return None
        pod_sc = worker.pod["spec"].get("securityContext") or {}
        sc = c.spec.get("securityContext") or {}
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            return None
        if effective_uid == 0:
            name = worker.pod["metadata"]["name"]
            if self._uid(worker, c) == 0:
                return (
                    f'container\'s runAsUser breaks non-root policy (pod: "{name}", '
                    f"container: {c.name})"
                )
            return (
                f'container has runAsNonRoot and image will run as root (pod: "{name}", '
                f"container: {c.name})"
            )
        return None

    # ------------------------------------------------------------------ launch
    async def launch(
        self, worker: PodWorker, c: ContainerRun, env: dict[str, str], log_path: Path
    ) -> ProcessHandle:
        pairs = self.path_map(worker, c)
        env = {k: rewrite(v, pairs) for k, v in env.items()}
        argv = self.argv(worker, c, env)
        workdir = c.spec.get("workingDir")
        if workdir:
            mapped = rewrite(workdir, pairs)
            cwd = Path(mapped) if mapped != workdir else worker.dir / "rootfs" / workdir.lstrip("/")
        else:
            cwd = worker.dir / "rootfs"
        cwd.mkdir(parents=True, exist_ok=True)
        uid, gid = self._uid(worker, c), self._gid(worker, c)
        as_root = os.geteuid() == 0 and worker.kubelet.config.honour_run_as_user
        effective = uid if as_root and uid is not None else os.geteuid()
        refused = self._non_root_violation(worker, c, effective)
        if refused:
            raise Refused(refused)
        if as_root and uid:
            with contextlib.suppress(OSError):
                os.chown(cwd, uid, gid if gid is not None else -1)
        limit = ((c.spec.get("resources") or {}).get("limits") or {}).get("memory")
        with log_path.open("ab") as out:
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=str(cwd),
                    env=self.process_env(worker, c, env, pairs),
                    start_new_session=True,
                    user=uid if as_root and uid is not None else None,
                    group=(gid if gid is not None else uid)
                    if as_root and uid is not None
                    else None,
                    extra_groups=[] if as_root and uid is not None else None,
                )
            except OSError as exc:
                msg = f"failed to create containerd task: exec: {exc}"
                if isinstance(exc, PermissionError) and as_root and uid:
                    msg += (
                        f" (sandbox: uid {uid} cannot execute {argv[0]}; make it reachable "
                        "for that user or start the sandbox with --ignore-run-as-user)"
                    )
                raise StartFailed(msg) from None
        return ProcessHandle(process, parse_quantity(limit) if limit is not None else None)
