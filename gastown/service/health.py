"""`/healthz` and `/readyz` for the kubelet's probes, served on the process's own event loop.

Liveness is answered by the loop itself: a loop wedged by a blocking call cannot answer, the
probe times out and the kubelet restarts the container. Readiness asks the process (the worker:
its Temporal connection and Worker; the watcher: leadership and its informers) and answers 200
or 503 with one line saying why. The standard library's asyncio streams are enough for two GET
routes; no web framework is loaded into the operator for this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("gastown.health")

# A probe that has not sent its request line and headers within this long is dropped.
READ_SECONDS = 5.0
# How long a readiness check may take before the answer is "not ready".
CHECK_SECONDS = 3.0
MAX_HEADER_BYTES = 8192

ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def answer(path: str, ready: ReadyCheck) -> Answer:
    if path == "/healthz":
        return Answer(200, "ok")
    if path == "/readyz":
        try:
            ok, detail = await asyncio.wait_for(ready(), CHECK_SECONDS)
        except TimeoutError:
            ok, detail = False, f"readiness check took longer than {CHECK_SECONDS:.0f}s"
        except Exception as exc:
            ok, detail = False, f"readiness check failed: {exc}"
        return Answer(200 if ok else 503, detail)
    return Answer(404, "not found: try /healthz or /readyz")


async def _handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ready: ReadyCheck
) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        writer.close()
        return
    try:
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    except ValueError:
        method, target = "", ""
    path = target.split("?", 1)[0]
    if method not in ("GET", "HEAD"):
        result = Answer(405, "only GET and HEAD")
    else:
        result = await answer(path, ready)
    body = (result.body + "\n").encode()
    lines = [
        f"HTTP/1.1 {result.status} {REASONS.get(result.status, '')}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "",
        "",
    ]
    writer.write("\r\n".join(lines).encode() + (b"" if method == "HEAD" else body))
    with contextlib.suppress(OSError):
        await writer.drain()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


class HealthUnavailable(Exception):
    """The health port cannot be listened on (taken, or not this host's)."""


async def start_health_server(port: int, ready: ReadyCheck, host: str = "") -> asyncio.Server:
    """Listen on `port` (all interfaces unless `host`); close the returned server to stop.
    All interfaces means IPv4 and IPv6 where the pod has both, IPv4 alone where IPv6 is off."""
    handler = lambda r, w: _handle(r, w, ready)  # noqa: E731
    try:
        try:
            server = await asyncio.start_server(handler, host or None, port, limit=MAX_HEADER_BYTES)
        except OSError:
            if host:
                raise
            server = await asyncio.start_server(handler, "0.0.0.0", port, limit=MAX_HEADER_BYTES)  # noqa: S104
    except OSError as exc:
        raise HealthUnavailable(
            f"cannot serve /healthz and /readyz on port {port}: {exc.strerror or exc}"
        ) from None
    log.info("health endpoints /healthz and /readyz on port %d", port)
    return server
