"""The container runner's host-side rules without podman: a hanging stand-in podman is
killed and reaped on timeout or cancellation; a subPath never goes through a symlink."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gastown.sandbox.cluster import SandboxConfig
from gastown.sandbox.containerrun import ContainerRuntime, is_git_repository, subpath_dir
from gastown.sandbox.runtime import Refused
from tests.sandbox.waits import wait_until


def hanging_podman(tmp_path: Path) -> tuple[Path, Path]:
    pidfile = tmp_path / "pid"
    script = tmp_path / "podman"
    script.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 600\n")
    script.chmod(0o755)
    return script, pidfile


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def started_pid(pidfile: Path) -> int:
    text = pidfile.read_text().strip() if pidfile.exists() else ""
    assert text, "the stand-in podman never started"
    return int(text)


async def until_started(pidfile: Path) -> None:
    def started() -> bool:
        return pidfile.exists() and bool(pidfile.read_text().strip())

    await asyncio.to_thread(wait_until, started, 30, "the stand-in podman started")


def test_a_timed_out_podman_is_killed(tmp_path: Path) -> None:
    binary, pidfile = hanging_podman(tmp_path)
    runtime = ContainerRuntime(SandboxConfig(state_dir=tmp_path / "state", podman=str(binary)))
    with pytest.raises(TimeoutError):
        asyncio.run(runtime.call("ps", limit=0.5))
    assert not alive(started_pid(pidfile))


def test_a_cancelled_podman_call_is_killed(tmp_path: Path) -> None:
    binary, pidfile = hanging_podman(tmp_path)
    runtime = ContainerRuntime(SandboxConfig(state_dir=tmp_path / "state", podman=str(binary)))

    async def cancel() -> None:
        task = asyncio.create_task(runtime.call("ps"))
        await until_started(pidfile)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel())
    assert not alive(started_pid(pidfile))


def test_a_subpath_through_a_symlink_is_refused(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    (volume / "real").mkdir(parents=True)
    (volume / "link").symlink_to("/")
    (volume / "inner").symlink_to("real")
    for sub in ("link", "link/etc", "inner", "real/../link"):
        with pytest.raises(Refused, match="subPath"):
            subpath_dir(volume, sub)
    assert subpath_dir(volume, "real/a/b") == volume.resolve() / "real" / "a" / "b"
    assert (volume / "real" / "a" / "b").is_dir()


def test_only_git_repositories_are_file_url_mounts(tmp_path: Path) -> None:
    bare = tmp_path / "o.git"
    (bare / "objects").mkdir(parents=True)
    (bare / "HEAD").write_text("ref: refs/heads/main\n")
    work = tmp_path / "w"
    (work / ".git").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    assert is_git_repository(str(bare)) and is_git_repository(str(work))
    assert not is_git_repository(str(tmp_path / "plain"))
    assert not is_git_repository(str(tmp_path))
