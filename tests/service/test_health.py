"""The health server on a real socket and a real event loop (of a thread of its own, so the
test can wedge it)."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Iterator

import pytest

from gastown.service.health import start_health_server
from tests.service.processes import free_port, get


class Loop:
    """An event loop on a thread, with our health server on it."""

    def __init__(self, ready: tuple[bool, str]) -> None:
        self.port = free_port()
        self.ready = ready
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            start_health_server(self.port, self.check, host="127.0.0.1"), self.loop
        ).result(10)

    async def check(self) -> tuple[bool, str]:
        return self.ready

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def served() -> Iterator[Loop]:
    loop = Loop((False, "connecting to Temporal"))
    yield loop
    loop.close()


def test_liveness_and_readiness(served: Loop) -> None:
    assert get(served.port, "/healthz") == (200, "ok\n")
    assert get(served.port, "/readyz") == (503, "connecting to Temporal\n")
    served.ready = (True, "polling task queue 'gastown'")
    assert get(served.port, "/readyz?verbose") == (200, "polling task queue 'gastown'\n")
    assert get(served.port, "/metrics")[0] == 404


def test_head_and_other_methods(served: Loop) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    conn.request("HEAD", "/healthz")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"")
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    conn.request("POST", "/healthz", body=b"x")
    assert conn.getresponse().status == 405
    conn.close()


def test_a_wedged_loop_fails_liveness(served: Loop) -> None:
    """/healthz is answered by the loop itself: a loop blocked by a synchronous call cannot
    answer, so the kubelet's probe (its timeout) fails."""
    assert get(served.port, "/healthz") == (200, "ok\n")
    blocked = threading.Event()

    def wedge() -> None:
        blocked.set()
        time.sleep(4)  # the wedge under test: a blocking call on the event loop

    served.loop.call_soon_threadsafe(wedge)
    assert blocked.wait(5)
    status, reason = get(served.port, "/healthz", timeout=1)
    assert status == 0 and "timed out" in reason
