"""Run the agent, copy its output to our stdout line by line, and stop it when it goes quiet.

Every line is redacted (registered secrets, known token shapes) on its way to the pod log: the
agent can print anything it read. Claude's stream-json lines can be megabytes long, so output
is read in chunks and split on newlines by hand (asyncio's readline has a length limit). Any
byte on stdout or stderr counts as activity; after `max_idle` seconds without one the agent's
whole process group gets SIGTERM, then SIGKILL after a grace period. So does an agent that
outlives `max_runtime`, its share of the pod's deadline: stopped here, it leaves the publisher
the rest of the deadline to push its work, where the kubelet's deadline would kill the pod
before the publisher ever started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gastown.runtime import redact

CHUNK = 1 << 16
#: Lines longer than this are still streamed but not parsed for the result event.
PARSE_LIMIT = 8 << 20


@dataclass
class AgentRun:
    exit_code: int | None = None
    idle_timeout: bool = False
    out_of_time: bool = False
    terminated: bool = False
    result_event: dict[str, Any] | None = None
    session_id: str | None = None
    stderr_tail: str = ""
    lines: int = 0
    _stderr: bytearray = field(default_factory=bytearray, repr=False)


def _observe(run: AgentRun, line: bytes) -> None:
    run.lines += 1
    if len(line) > PARSE_LIMIT or not line.startswith(b"{"):
        return
    try:
        event = json.loads(line)
    except ValueError:
        return
    if not isinstance(event, dict):
        return
    if isinstance(event.get("session_id"), str):
        run.session_id = event["session_id"]
    if event.get("type") == "result":
        run.result_event = event


async def _pump(
    reader: asyncio.StreamReader,
    sink: BinaryIO,
    touch: list[float],
    on_line: Any = None,
    keep: bytearray | None = None,
) -> None:
    pending = bytearray()
    while True:
        chunk = await reader.read(CHUNK)
        if not chunk:
            break
        touch[0] = time.monotonic()
        if keep is not None:
            keep.extend(chunk)
            del keep[:-4096]
        pending.extend(chunk)
        start = 0
        while True:
            newline = pending.find(b"\n", start)
            if newline < 0:
                break
            line = bytes(pending[start : newline + 1])
            sink.write(redact.redact_bytes(line))
            if on_line is not None:
                on_line(line.rstrip(b"\r\n"))
            start = newline + 1
        del pending[:start]
        sink.flush()
    if pending:
        sink.write(redact.redact_bytes(bytes(pending)) + b"\n")
        sink.flush()
        if on_line is not None:
            on_line(bytes(pending))


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def run_agent(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin_path: Path | None,
    max_idle: float,
    grace: float,
    stdout: BinaryIO,
    stderr: BinaryIO,
    max_runtime: float | None = None,
) -> AgentRun:
    """Run `argv` in its own process group and stream its output; never raises on exit codes."""
    run = AgentRun()
    # The kubelet's SIGTERM (pod deleted, deadline) reaches us, often as PID 1: pass it on to
    # the agent, and let the caller still commit and push what exists within the grace period.
    # Handled from before the agent starts: a SIGTERM in between would kill us outright.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_sigterm() -> None:
        run.terminated = True
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        stdin_handle = stdin_path.open("rb") if stdin_path is not None else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(cwd),
                env=dict(env),
                stdin=stdin_handle if stdin_handle is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        finally:
            if stdin_handle is not None:
                stdin_handle.close()
        assert proc.stdout is not None
        assert proc.stderr is not None
        touch = [time.monotonic()]
        ends = touch[0] + max_runtime if max_runtime is not None else float("inf")
        pumps = asyncio.gather(
            _pump(proc.stdout, stdout, touch, lambda line: _observe(run, line)),
            _pump(proc.stderr, stderr, touch, keep=run._stderr),
        )
        waiter = asyncio.ensure_future(proc.wait())
        while not waiter.done():
            now = time.monotonic()
            idle_for = now - touch[0]
            if idle_for >= max_idle or now >= ends or stop.is_set():
                run.out_of_time = not stop.is_set() and now >= ends
                run.idle_timeout = not stop.is_set() and not run.out_of_time
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), timeout=grace)
                except TimeoutError:
                    _signal_group(proc.pid, signal.SIGKILL)
                break
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper},
                timeout=min(1.0, max_idle - idle_for, max(ends - now, 0.0)),
                return_when=asyncio.FIRST_COMPLETED,
            )
            stopper.cancel()
        run.exit_code = await waiter
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    # The agent is gone; anything it left behind holding the pipes open goes too.
    try:
        await asyncio.wait_for(asyncio.shield(pumps), timeout=2.0)
    except TimeoutError:
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            await asyncio.wait_for(asyncio.shield(pumps), timeout=5.0)
        except TimeoutError:
            pumps.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumps
    run.stderr_tail = run._stderr.decode(errors="replace")[-2000:]
    return run
