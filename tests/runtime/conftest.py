"""Fixtures for the polecat runtime: real git repos, a pod-like sandbox, and `gt-polecat` itself.

`gt-polecat` runs as a separate process, as the non-root user the pod uses (uid 65532 when the
tests run as root, as in CI), with only the env vars and files the pod would give it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The pod user cannot run the dev venv's interpreter (it lives under root's home), so
# `make test-tools` builds .tools/pod-venv: the runtime plus pydantic, nothing else.
GT_POLECAT = REPO_ROOT / ".tools" / "pod-venv" / "bin" / "gt-polecat"
POD_PYTHON = GT_POLECAT.with_name("python")
CLAUDE_BIN = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "claude"
POD_UID = 65532


def require_tools() -> None:
    if not GT_POLECAT.exists():
        pytest.fail(f"{GT_POLECAT} is missing: run `make test-tools`")


def pod_identity() -> tuple[int, int]:
    """The uid/gid gt-polecat runs as: the pod's 65532 under root, else ourselves."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    import pwd

    try:
        entry = pwd.getpwuid(POD_UID)
    except KeyError:
        pytest.fail(f"uid {POD_UID} has no passwd entry; run `make test-tools` first")
    return entry.pw_uid, entry.pw_gid


def git_home_for_tests() -> str:
    """A HOME whose global config trusts repos owned by the pod user (reaches upload-pack)."""
    home = Path(tempfile.gettempdir()) / f"gt-polecat-test-git-home-{os.getuid()}"
    config = home / ".gitconfig"
    if not config.exists():
        home.mkdir(mode=0o700, exist_ok=True)
        config.write_text("[safe]\n\tdirectory = *\n")
    return str(home)


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Test-side git (as the test runner), trusting repos owned by the pod user."""
    full_env = {
        "PATH": os.environ["PATH"],
        "HOME": git_home_for_tests(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        **(env or {}),
    }
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {args} failed: {proc.stderr}")
    return proc.stdout.strip()


def chown_tree(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll a condition with a deadline (never a bare sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class PodRun:
    returncode: int
    stdout: str
    stderr: str
    result: dict[str, Any] | None
    elapsed: float


@dataclass
class Pod:
    """A fake polecat pod: workspace and HOME dirs, a termination log, and env to run with."""

    root: Path
    origin: Path
    uid: int
    gid: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def termination_log(self) -> Path:
        return self.root / "termination-log"

    def secret_dir(self, name: str, files: dict[str, str | bytes]) -> Path:
        """A mounted Secret: read-only files (mode 0440 like a projected volume, group ours)."""
        directory = self.root / "secrets" / name
        directory.mkdir(parents=True, exist_ok=True)
        for key, value in files.items():
            path = directory / key
            data = value.encode() if isinstance(value, str) else value
            path.write_bytes(data)
            path.chmod(0o440)
        chown_tree(self.root / "secrets", 0, self.gid)
        (self.root / "secrets").chmod(0o755)
        directory.chmod(0o755)
        return directory

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "GT_REPO_URL": f"file://{self.origin}",
            "GT_BASE_BRANCH": "main",
            "GT_WORK_BRANCH": "polecat/furiosa/dm-0001",
            "GT_BEAD_ID": "dm-0001",
            "GT_POLECAT": "furiosa",
            "GT_RIG": "demo-rig",
            "GT_WORKSPACE": str(self.workspace),
            "GT_TERMINATION_LOG": str(self.termination_log),
            "GT_GIT_AUTHOR_NAME": "Polecat Furiosa",
            "GT_GIT_AUTHOR_EMAIL": "furiosa@polecats.example",
            "GT_KILL_GRACE_SECONDS": "2",
            "GT_PUSH_BACKOFF_SECONDS": "0.2",
        }

    def start(self, command: str, **env: str) -> subprocess.Popen[bytes]:
        """Start `gt-polecat <command>` as the pod user with the pod's env (and `env`)."""
        self.termination_log.write_text("")
        full_env = {**self.base_env(), **self.env, **env}
        kwargs: dict[str, Any] = {}
        if os.geteuid() == 0:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        return subprocess.Popen(
            [str(GT_POLECAT), command],
            cwd=self.root,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **kwargs,
        )

    def result(self) -> dict[str, Any] | None:
        text = self.termination_log.read_text()
        assert len(text.encode()) <= 4096
        return json.loads(text) if text else None

    def run(self, command: str, timeout: float = 120, **env: str) -> PodRun:
        start = time.monotonic()
        proc = self.start(command, **env)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return PodRun(
            proc.returncode,
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
            self.result(),
            time.monotonic() - start,
        )


def make_origin(path: Path, files: dict[str, str] | None = None) -> Path:
    """A bare repository with one commit on main holding `files`."""
    seed = path.with_name(path.name + "-seed")
    seed.mkdir(parents=True)
    git("init", "-q", cwd=seed)
    for name, text in (files or {"README.md": "# demo\n"}).items():
        target = seed / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "initial", cwd=seed)
    git("clone", "-q", "--bare", str(seed), str(path), cwd=seed.parent)
    git("config", "uploadpack.allowFilter", "true", cwd=path)
    shutil.rmtree(seed)
    return path


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A world-traversable temp dir the pod user can use (pytest's tmp_path is 0700 root)."""
    root = Path(tempfile.mkdtemp(prefix="gt-polecat-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pod_factory(sandbox: Path) -> Callable[..., Pod]:
    require_tools()
    uid, gid = pod_identity()

    def factory(files: dict[str, str] | None = None) -> Pod:
        origin = make_origin(sandbox / "origin.git", files)
        chown_tree(origin, uid, gid)
        pod = Pod(root=sandbox, origin=origin, uid=uid, gid=gid)
        for directory in (pod.workspace, pod.home):
            directory.mkdir()
            chown_tree(directory, uid, gid)
        pod.termination_log.touch()
        chown_tree(pod.termination_log, uid, gid)
        return pod

    return factory


@pytest.fixture
def pod(pod_factory: Callable[..., Pod]) -> Pod:
    return pod_factory()


@pytest.fixture
def claude_bin() -> Path:
    if not CLAUDE_BIN.exists():
        pytest.fail(f"{CLAUDE_BIN} is missing: run `make test-tools`")
    return CLAUDE_BIN
