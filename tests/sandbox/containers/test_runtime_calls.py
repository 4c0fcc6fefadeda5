"""ContainerRuntime.call with a stand-in podman that hangs: a timeout or a cancellation
kills and reaps it (no podman outlives its caller). No real podman is needed for that."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gastown.sandbox.cluster import SandboxConfig
from gastown.sandbox.containerrun import ContainerRuntime
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
