"""The sandbox's container mode, pure part: a pod container as a `podman create` argv.

Everything here is data in, data out (no I/O), so each rule has a unit test: Kubernetes'
command/args over the image's ENTRYPOINT/CMD, mounts per container, the securityContext as
podman options, limits, and the `file://` paths a container needs from the host. The runner
(containerrun.py) executes the argv; values never pass through a shell, and every option is
written `--name=value` so a value can never be read as another option.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from gastown.sandbox.quantity import parse_quantity
from gastown.sandbox.runtime import Refused

JSON = dict[str, Any]

# crun fails on this machine's cgroups; the default ulimits exceed the hard limit here.
GLOBAL_OPTIONS = ("--runtime=runc", "--cgroup-manager=cgroupfs")
ULIMITS = ("nofile=1024:1024", "nproc=1024:1024")
LABEL = "io.gastown.sandbox"
LABEL_POD = "io.gastown.sandbox.pod"
LABEL_STATE = "io.gastown.sandbox.state"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
# Paths a `file://` URL may not bring into a container: the host's system trees. The sandbox's
# own state directory (other pods' Secrets) is refused by the caller, which knows it.
SYSTEM_TREES: tuple[str, ...] = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/usr")
SYSTEM_TREES += ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib", "/var/run")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_IMAGE_START = re.compile(r"^[a-z0-9]")  # as podworker.valid_image: never an option
_CAPABILITY = re.compile(r"^[A-Za-z_]+$")
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


@dataclass(frozen=True)
class Mount:
    host: str
    path: str
    read_only: bool = False


@dataclass(frozen=True)
class ImageConfig:
    """What `podman image inspect` says about an image that matters to a pod."""

    user: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()

    @classmethod
    def from_inspect(cls, config: JSON | None) -> ImageConfig:
        config = config or {}
        return cls(
            user=str(config.get("User") or ""),
            entrypoint=tuple(config.get("Entrypoint") or ()),
            cmd=tuple(config.get("Cmd") or ()),
        )


@dataclass
class RunSpec:
    """One container as podman will create it."""

    name: str
    image: str
    hostname: str
    entrypoint: list[str] | None = None  # Kubernetes `command`
    args: list[str] | None = None  # Kubernetes `args` (None: the image's CMD, unless command)
    env_file: str | None = None
    # (podman secret, variable): multi-line values, as `type=env` secrets (never podman's env)
    env_secrets: list[tuple[str, str]] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    user: str | None = None
    groups: list[int] = field(default_factory=list)
    read_only: bool = False
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = False
    seccomp_unconfined: bool = False
    workdir: str | None = None
    memory: int | None = None
    cpus: float | None = None
    labels: dict[str, str] = field(default_factory=dict)


def container_name(pod_uid: str, container: str) -> str:
    """Deterministic, unique per pod instance: the pod's uid and the container's name."""
    return "gt-" + _NAME_UNSAFE.sub("_", f"{pod_uid}-{container}")


def base(podman: str) -> list[str]:
    return [podman, *GLOBAL_OPTIONS]


def create_argv(podman: str, spec: RunSpec) -> list[str]:
    argv = [
        *base(podman),
        "create",
        f"--name={spec.name}",
        "--pull=never",
        "--network=host",
        f"--hostname={spec.hostname}",
        "--log-driver=none",
        *(f"--ulimit={u}" for u in ULIMITS),
    ]
    argv += [f"--label={k}={v}" for k, v in sorted(spec.labels.items())]
    if spec.user is not None:
        argv.append(f"--user={spec.user}")
    argv += [f"--group-add={g}" for g in spec.groups]
    if spec.read_only:
        # readOnlyRootFilesystem means read-only: no tmpfs on /tmp, /run (podman's default).
        argv += ["--read-only", "--read-only-tmpfs=false"]
    if spec.privileged:
        argv.append("--privileged")
    argv += [f"--cap-drop={c}" for c in spec.cap_drop]
    argv += [f"--cap-add={c}" for c in spec.cap_add]
    if spec.no_new_privileges:
        argv.append("--security-opt=no-new-privileges")
    if spec.seccomp_unconfined:
        argv.append("--security-opt=seccomp=unconfined")
    if spec.memory is not None:
        # No swap beyond the limit, as the kubelet configures it.
        argv += [f"--memory={spec.memory}", f"--memory-swap={spec.memory}"]
    if spec.cpus is not None:
        argv.append(f"--cpus={spec.cpus:g}")
    if spec.workdir:
        argv.append(f"--workdir={spec.workdir}")
    if spec.env_file is not None:
        argv.append(f"--env-file={spec.env_file}")
    argv += [f"--secret={name},type=env,target={var}" for name, var in spec.env_secrets]
    for m in spec.mounts:
        argv.append(f"--volume={m.host}:{m.path}:{'ro' if m.read_only else 'rw'}")
    if spec.entrypoint is not None:
        argv.append(f"--entrypoint={json.dumps(spec.entrypoint)}")
    # `--` ends podman's options: the image and args are positionals whatever they look like.
    argv += ["--", spec.image]
    if spec.args is not None:
        argv += spec.args
    return argv


# ---------------------------------------------------------------------- from a pod spec
def _check_path(what: str, path: str) -> str:
    """A path podman's `--volume` syntax can carry: absolute, no `:`/`,`, no control chars."""
    if not path.startswith("/") or any(ch in path for ch in ":,\n\r\0"):
        raise Refused(f"sandbox: {what} {path!r} must be an absolute path without ':' or ','")
    parts = PurePosixPath(path).parts
    if ".." in parts:
        raise Refused(f"sandbox: {what} {path!r} must not contain '..'")
    return path


def _security(pod: JSON, container: JSON, key: str) -> Any:
    sc = container.get("securityContext") or {}
    if key in sc:
        return sc[key]
    return (pod["spec"].get("securityContext") or {}).get(key)


def effective_uid(pod: JSON, container: JSON, image: ImageConfig) -> str:
    """The user the container runs as: runAsUser, else the image's USER (may be a name)."""
    uid = _security(pod, container, "runAsUser")
    if uid is not None:
        return str(int(uid))
    return image.user.split(":", 1)[0]


def non_root_violation(pod: JSON, container: JSON, image: ImageConfig) -> str | None:
    """runAsNonRoot as the kubelet checks it, with its messages."""
    if not _security(pod, container, "runAsNonRoot"):
        return None
    name, cname = pod["metadata"]["name"], container["name"]
    if _security(pod, container, "runAsUser") is not None:
        if int(_security(pod, container, "runAsUser")) == 0:
            return (
                f'container\'s runAsUser breaks non-root policy (pod: "{name}", container: {cname})'
            )
        return None
    user = effective_uid(pod, container, image)
    where = f'(pod: "{name}", container: {cname})'
    if user in ("", "0", "root"):
        return f"container has runAsNonRoot and image will run as root {where}"
    if not user.isdigit():
        return (
            f"container has runAsNonRoot and image has non-numeric user ({user}), cannot "
            f"verify user is non-root {where}"
        )
    return None


def split_env(env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """(env-file text, multi-line variables). podman's env file is one `NAME=value` a line,
    so a value with a line break travels as a podman secret of type env (see env_secret_name),
    never through podman's own process environment, where podman, its Go runtime and the
    dynamic loader (LD_PRELOAD, GCONV_PATH, ...) would read it as root."""
    lines: list[str] = []
    multi: dict[str, str] = {}
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise Refused(f"sandbox: environment variable name {name!r} is not valid")
        if "\0" in value:
            raise Refused(f"sandbox: the value of {name} contains a NUL byte")
        if "\n" in value or "\r" in value:
            multi[name] = value
        else:
            lines.append(f"{name}={value}\n")
    return "".join(lines), multi


def env_secret_name(container: str, variable: str) -> str:
    """The podman secret carrying one multi-line variable of one container: deterministic,
    so a restart or a sweep finds it."""
    return f"{container}.env.{_NAME_UNSAFE.sub('_', variable)}"


def file_url_paths(values: Iterable[str]) -> list[str]:
    """Host paths named by `file://` URLs (a rig's repository, say): what a container using
    them needs bind-mounted at the same path, since the URL means that path on the host."""
    found: list[str] = []
    for value in values:
        for match in re.finditer(r"file://[^\s'\"]+", value):
            parts = urlsplit(match.group(0))
            path = unquote(parts.path)
            if path and path not in found:
                found.append(path.rstrip("/") or "/")
    return found


def allowed_host_path(path: str, refused_roots: Iterable[str] = ()) -> bool:
    """A `file://` path that may be mounted: not a system tree, not the sandbox's state."""
    if path == "/" or any(ch in path for ch in ":,\n\r\0"):
        return False
    for tree in (*SYSTEM_TREES, *refused_roots):
        root = tree.rstrip("/")
        if path == root or path.startswith(root + "/") or root.startswith(path + "/"):
            return False
    return True


def orphaned_containers(ps_output: str, state_exists: Callable[[str], bool]) -> list[str]:
    """Container ids from `podman ps` lines `<id> <state dir>` whose state dir is gone."""
    ids = []
    for line in ps_output.splitlines():
        cid, _, state = line.strip().partition(" ")
        state = state.strip()
        if cid and state.startswith("/") and not state_exists(state):
            ids.append(cid)
    return ids


def resources(container: JSON) -> tuple[int | None, float | None]:
    limits = (container.get("resources") or {}).get("limits") or {}
    memory = int(parse_quantity(limits["memory"])) if "memory" in limits else None
    cpus = parse_quantity(limits["cpu"]) if "cpu" in limits else None
    return memory, cpus


def run_spec(
    pod: JSON,
    container: JSON,
    *,
    image: ImageConfig,
    volumes: Mapping[str, str],
    termination_file: str,
    env_file: str | None,
    env_secrets: Iterable[tuple[str, str]] = (),
    extra_mounts: Iterable[Mount] = (),
    labels: Mapping[str, str] | None = None,
) -> RunSpec:
    """The podman view of one pod container. `volumes` maps volume name -> host directory;
    a container gets exactly its own volumeMounts (and its termination file), nothing else.
    Environment values travel in the env file or as podman secrets, never in the argv."""
    mounts: list[Mount] = []
    # Secret, ConfigMap, downward API and projected volumes are read-only whatever the mount
    # says (the kubelet's atomic-writer volumes).
    always_ro = {
        v["name"]
        for v in pod["spec"].get("volumes") or []
        if any(k in v for k in ("secret", "configMap", "downwardAPI", "projected"))
    }
    for m in container.get("volumeMounts") or []:
        host = volumes.get(m["name"])
        if host is None:
            raise Refused(f'sandbox: volume "{m["name"]}" of mount {m["mountPath"]} is not ready')
        sub = m.get("subPath") or ""
        if sub:
            if sub.startswith("/") or ".." in PurePosixPath(sub).parts:
                raise Refused(f"sandbox: subPath {sub!r} must be a relative path without '..'")
            host = f"{host.rstrip('/')}/{sub}"
        mounts.append(
            Mount(
                _check_path("host path", host),
                _check_path("mountPath", m["mountPath"]),
                bool(m.get("readOnly")) or m["name"] in always_ro,
            )
        )
    term_path = container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH
    mounts.append(Mount(termination_file, _check_path("terminationMessagePath", term_path)))
    mounted = {m.path for m in mounts}
    mounts += [m for m in extra_mounts if m.path not in mounted]

    uid = _security(pod, container, "runAsUser")
    gid = _security(pod, container, "runAsGroup")
    user: str | None = None
    if uid is not None:
        user = f"{int(uid)}:{int(gid)}" if gid is not None else str(int(uid))
    elif gid is not None:
        user = f"{image.user.split(':', 1)[0] or '0'}:{int(gid)}"
    pod_sc = pod["spec"].get("securityContext") or {}
    groups = [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None and int(pod_sc["fsGroup"]) not in groups:
        groups.insert(0, int(pod_sc["fsGroup"]))
    caps = _security(pod, container, "capabilities") or {}
    for cap in [*(caps.get("add") or []), *(caps.get("drop") or [])]:
        if not _CAPABILITY.fullmatch(str(cap)):
            raise Refused(f"sandbox: capability {cap!r} is not a capability name")
    seccomp = _security(pod, container, "seccompProfile") or {}
    if seccomp.get("type") == "Localhost":
        raise Refused("sandbox: seccompProfile Localhost is not emulated in container mode")
    if not _IMAGE_START.match(str(container["image"])):
        raise Refused(f"sandbox: image {container['image']!r} is not a valid image reference")
    memory, cpus = resources(container)
    command = container.get("command")
    args = container.get("args")
    return RunSpec(
        name=container_name(pod["metadata"]["uid"], container["name"]),
        image=container["image"],
        hostname=pod["metadata"]["name"][:63],
        entrypoint=list(command) if command else None,
        # Kubernetes: `command` without `args` ignores the image's CMD, which an entrypoint
        # override does in podman too; `args` alone keep the ENTRYPOINT and replace CMD.
        args=list(args) if args else None,
        env_file=env_file,
        env_secrets=list(env_secrets),
        mounts=mounts,
        user=user,
        groups=groups,
        read_only=bool(_security(pod, container, "readOnlyRootFilesystem")),
        privileged=bool(_security(pod, container, "privileged")),
        cap_add=[str(c) for c in caps.get("add") or []],
        cap_drop=[str(c) for c in caps.get("drop") or []],
        no_new_privileges=_security(pod, container, "allowPrivilegeEscalation") is False,
        seccomp_unconfined=seccomp.get("type") == "Unconfined",
        workdir=_check_path("workingDir", container["workingDir"])
        if container.get("workingDir")
        else None,
        memory=memory,
        cpus=cpus,
        labels=dict(labels or {}),
    )
