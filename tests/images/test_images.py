"""The images `make images` builds, run as real containers with podman the way a pod runs them:
non-root, read-only root filesystem, all capabilities dropped, the writable paths mounted as
volumes (emptyDirs in a pod). These tests prove the images themselves (deploy/images/); the
sandbox's container mode proves the pods that run them (tests/sandbox/containers/).

A missing podman or image fails loudly and names `make images`: CI builds the images before
the tests (`make pytest` depends on `make images`), so a missing one is a broken build.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.containers, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
_CLAUDE = re.search(r"^CLAUDE_CODE_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
assert _CLAUDE, "the Makefile no longer defines CLAUDE_CODE_VERSION"
CLAUDE_CODE_VERSION = _CLAUDE.group(1)
POD_UID = 65532

# This machine's podman: runc (crun fails on its cgroups), cgroupfs, and ulimits within the
# hard limit (podman's defaults exceed it). Kept as argv lists: no shell anywhere.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
RUN = [
    *PODMAN,
    "run",
    "--rm",
    "--ulimit=nofile=1024:1024",
    "--ulimit=nproc=1024:1024",
    "--network=none",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
]
# readOnlyRootFilesystem as Kubernetes has it: podman would otherwise mount its own writable
# tmpfs on /tmp, /var/tmp and /run, hiding whether the image needs them.
READ_ONLY = ["--read-only", "--read-only-tmpfs=false"]
# Writable in every container whatever the image: the IPC mounts the runtime provides (a pod
# has them too). Everything else must be read-only unless a volume is mounted there.
RUNTIME_WRITABLE = ("/dev/shm", "/dev/mqueue")


@dataclass(frozen=True)
class Image:
    name: str
    tag: str
    cmd: list[str]
    # What the pod mounts (emptyDirs): the only places the program may write.
    volumes: tuple[str, ...]
    # Where the image itself lets its user write when no volume is mounted (a runtime without
    # readOnlyRootFilesystem): its own directories and Debian's sticky temporary directories.
    image_writable: tuple[str, ...]


POLECAT = Image(
    name="polecat-agent",
    tag=f"ghcr.io/gastown/polecat-agent:{VERSION}",
    cmd=["gt-polecat", "run"],
    volumes=("/workspace", "/home/polecat", "/tmp"),
    image_writable=("/workspace", "/home/polecat", "/tmp", "/var/tmp", "/run/lock"),
)
OPERATOR = Image(
    name="gastown-operator",
    tag=f"ghcr.io/gastown/gastown-operator:{VERSION}",
    cmd=["gastown-operator", "worker"],
    volumes=("/tmp",),
    image_writable=("/home/gastown", "/tmp", "/var/tmp", "/run/lock"),
)
IMAGES = [pytest.param(POLECAT, id=POLECAT.name), pytest.param(OPERATOR, id=OPERATOR.name)]

# Runs inside the container (python3 is in both images): tries to create a file in every
# directory of the filesystem and to open every regular file for writing (append, so nothing
# is changed even where it succeeds), and reports what succeeded. /proc and /sys are kernel
# interfaces, probed through a list of sensitive knobs instead; /dev holds device nodes (its
# directories are probed, not its files).
PROBE = r"""
import json, os
name = ".gt-write-probe-%d" % os.getpid()
dirs, files, checked_dirs, checked_files = [], [], 0, 0
for root, subdirs, names in os.walk("/", followlinks=False):
    if root == "/":
        subdirs[:] = [d for d in subdirs if d not in ("proc", "sys")]
    checked_dirs += 1
    probe = os.path.join(root, name)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        pass
    else:
        os.close(fd)
        os.unlink(probe)
        dirs.append(root)
    if root == "/dev" or root.startswith("/dev/"):
        continue
    for n in names:
        path = os.path.join(root, n)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        checked_files += 1
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError:
            continue
        os.close(fd)
        files.append(path)
KERNEL = ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname", "/proc/sysrq-trigger",
          "/proc/sys/vm/drop_caches", "/sys/kernel/uevent_helper", "/sys/fs/cgroup/cgroup.procs")
for path in KERNEL:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        continue
    os.close(fd)
    files.append(path)
print(json.dumps({"dirs": dirs, "files": files, "checked_dirs": checked_dirs,
                  "checked_files": checked_files, "secrets": os.path.exists("/run/secrets")}))
"""


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], capture_output=True, text=True, timeout=120, check=False)


def run_in(
    image: Image, argv: list[str], *options: str, volumes: dict[str, Path] | None = None
) -> subprocess.CompletedProcess[str]:
    """`podman run` the image as a pod would (no capabilities, no privilege escalation), with
    `volumes` (container path -> host directory) mounted read-write."""
    mounts = [f"--volume={host}:{path}" for path, host in (volumes or {}).items()]
    return podman(*RUN, *options, *mounts, image.tag, *argv)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def empty_dirs(tmp_path: Path, paths: tuple[str, ...]) -> dict[str, Path]:
    """Host directories standing in for a pod's emptyDirs (mode 0777, as the kubelet makes
    them; /tmp sticky), one per container path."""
    dirs = {}
    for path in paths:
        host = tmp_path / path.strip("/").replace("/", "_")
        host.mkdir()
        host.chmod(0o1777 if path == "/tmp" else 0o777)
        dirs[path] = host
    return dirs


@dataclass(frozen=True)
class Inspected:
    """What `podman image inspect` says about an image's configuration."""

    user: str
    entrypoint: list[str]
    cmd: list[str]
    labels: dict[str, str]


@pytest.fixture(scope="module", autouse=True)
def inspected() -> dict[str, Inspected]:
    """Each image's configuration; a loud failure when podman or an image is missing."""
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: run `make container-tools` (as root), then `make images`")
    records = {}
    for image in (POLECAT, OPERATOR):
        done = podman(*PODMAN, "image", "inspect", image.tag)
        if done.returncode != 0:
            pytest.fail(f"image {image.tag} is missing: run `make images` ({done.stderr.strip()})")
        config = json.loads(done.stdout)[0]["Config"]
        records[image.name] = Inspected(
            user=config.get("User", ""),
            entrypoint=config.get("Entrypoint") or [],
            cmd=config.get("Cmd") or [],
            labels=config.get("Labels") or {},
        )
    return records


@pytest.mark.parametrize("image", IMAGES)
def test_runs_as_65532_by_default(image: Image, inspected: dict[str, Inspected]) -> None:
    assert inspected[image.name].user == f"{POD_UID}:{POD_UID}"
    # No --user: the image's own configuration decides.
    uid, gid, groups = ok(run_in(image, ["id"], *READ_ONLY)).split()
    assert uid.startswith(f"uid={POD_UID}(") and gid.startswith(f"gid={POD_UID}(")
    assert groups == gid.replace("gid=", "groups=")


@pytest.mark.parametrize("image", IMAGES)
def test_tini_is_the_entrypoint_and_pid_1(image: Image, inspected: dict[str, Inspected]) -> None:
    assert inspected[image.name].entrypoint == ["/usr/bin/tini", "--"]
    assert inspected[image.name].cmd == image.cmd
    script = (
        "import os; print(open('/proc/1/comm').read().strip(), "
        "open('/proc/1/cmdline').read().split(chr(0))[0], os.getpid(), os.getppid())"
    )
    comm, exe, pid, parent = ok(run_in(image, ["python3", "-c", script], *READ_ONLY)).split()
    # PID 1 is tini, and the command runs as its child.
    assert (comm, exe, parent) == ("tini", "/usr/bin/tini", "1")
    assert pid != "1"


def test_polecat_agent_programs_run(tmp_path: Path, inspected: dict[str, Inspected]) -> None:
    volumes = empty_dirs(tmp_path, POLECAT.volumes)
    out = ok(run_in(POLECAT, ["gt-polecat", "--help"], *READ_ONLY, volumes=volumes))
    assert "usage: gt-polecat" in out and "{init,agent,publish,run," in out
    version = ok(run_in(POLECAT, ["claude", "--version"], *READ_ONLY, volumes=volumes)).strip()
    assert version == f"{CLAUDE_CODE_VERSION} (Claude Code)"
    labels = inspected[POLECAT.name].labels
    assert labels["io.gastown.claude-code-version"] == CLAUDE_CODE_VERSION
    assert labels["org.opencontainers.image.version"] == VERSION


def test_operator_programs_run(tmp_path: Path, inspected: dict[str, Inspected]) -> None:
    volumes = empty_dirs(tmp_path, OPERATOR.volumes)
    for argv, expected in [
        (["gastown-operator", "--help"], "Usage: gastown-operator"),
        (["gastown-operator", "worker", "--help"], "Usage: gastown-operator worker"),
        (["gastown-operator", "watcher", "--help"], "Usage: gastown-operator watcher"),
        (["kubectl-gt", "--help"], "Usage: kubectl gt"),
    ]:
        out = ok(run_in(OPERATOR, argv, *READ_ONLY, "--env=COLUMNS=200", volumes=volumes))
        assert expected in out, f"{argv}: {out}"
    assert inspected[OPERATOR.name].labels["org.opencontainers.image.version"] == VERSION


@dataclass(frozen=True)
class Writable:
    """What the probe could write: directories it created a file in, files it opened."""

    dirs: list[str]
    files: list[str]
    secrets_dir: bool


def probe(image: Image, *options: str, volumes: dict[str, Path] | None = None) -> Writable:
    report = json.loads(ok(run_in(image, ["python3", "-c", PROBE], *options, volumes=volumes)))
    # The walk really covered the image (a broken probe must not pass as "nothing writable").
    assert report["checked_dirs"] > 500 and report["checked_files"] > 3000, report
    return Writable(sorted(report["dirs"]), report["files"], report["secrets"])


@pytest.mark.parametrize("image", IMAGES)
def test_only_the_mounted_volumes_are_writable(image: Image, tmp_path: Path) -> None:
    found = probe(image, *READ_ONLY, volumes=empty_dirs(tmp_path, image.volumes))
    # Exactly the mounts (and the runtime's IPC mounts): the probe found each mount writable,
    # so it does detect a writable directory, and found nothing else.
    assert found.dirs == sorted([*image.volumes, *RUNTIME_WRITABLE])
    assert found.files == []
    # The build's CA bundle (a build secret, /run/secrets/build-ca) is not in the image.
    assert not found.secrets_dir


@pytest.mark.parametrize("image", IMAGES)
def test_read_only_root_holds_even_for_root(image: Image) -> None:
    """uid 0 without capabilities still owns the image's files: only the read-only root keeps
    it from writing them (the pod user is stopped by permissions as well)."""
    found = probe(image, *READ_ONLY, "--user=0")
    # /dev is the runtime's tmpfs (root-owned, so writable by root in any pod too).
    assert found.dirs == sorted(["/dev", *RUNTIME_WRITABLE])
    assert found.files == []


@pytest.mark.parametrize("image", IMAGES)
def test_image_gives_its_user_no_other_writable_path(image: Image) -> None:
    """Without readOnlyRootFilesystem and without volumes the pod user may write only to the
    image's own directories and Debian's sticky temporary ones: nothing it runs (the agent,
    its tools) can change the programs, the venv or the system configuration."""
    found = probe(image)
    assert found.dirs == sorted([*image.image_writable, *RUNTIME_WRITABLE])
    assert found.files == []
