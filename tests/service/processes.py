"""Helpers to run `gastown-operator worker|watcher` as the real processes and ask their
endpoints, waiting on conditions with a deadline."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

OPERATOR = str(Path(sys.executable).parent / "gastown-operator")
T = TypeVar("T")


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """One GET to localhost; (0, reason) when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    except OSError as exc:
        return 0, str(exc)
    finally:
        conn.close()


def wait_for(
    what: str,
    check: Callable[[], T | None],
    deadline_seconds: float,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> T:
    """`check()`'s first truthy answer; fails with the process log if it exits or time runs
    out."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        found = check()
        if found:
            return found
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}:\n{tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {deadline_seconds}s:\n{tail}")
        time.sleep(0.1)


@contextmanager
def operator(
    command: str, args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`gastown-operator <command> args…`, output to `log`; SIGTERM'd at the end (it must
    exit 0 by itself within 30 s)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [OPERATOR, command, *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{command} did not stop: {log.read_text()}") from None


def free_port() -> int:
    from gastown.sandbox.temporal_dev import free_port as free

    return free()


def answer_with(port: int, path: str, status: int) -> Callable[[], tuple[int, str] | None]:
    """A check for `wait_for`: the answer once `path` answers `status`."""

    def check() -> tuple[int, str] | None:
        got = get(port, path, timeout=2)
        return got if got[0] == status else None

    return check
