"""Stopping the watcher: kopf's end is waited for quietly, a caller's cancellation is not."""

from __future__ import annotations

import asyncio

import pytest

from gastown.service.watcher import wait_stopped


async def _blocked(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


async def _failing() -> None:
    raise RuntimeError("kopf broke")


async def test_cancelling_the_waiter_propagates() -> None:
    # The shape of a SIGTERM'd or cancelled watcher: serve() is cancelled while it waits for
    # kopf. The cancellation must reach serve()'s caller, not be swallowed.
    started = asyncio.Event()
    kopf = asyncio.create_task(_blocked(started))
    waiter = asyncio.create_task(wait_stopped(kopf, 30, "kopf"))
    await started.wait()  # both tasks have run: the waiter is inside wait_for
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert kopf.cancelled()


async def test_a_cancelled_task_is_waited_for_quietly(caplog: pytest.LogCaptureFixture) -> None:
    # The lease was lost: serve() cancels kopf and waits for it; that is not an error.
    started = asyncio.Event()
    kopf = asyncio.create_task(_blocked(started))
    await started.wait()
    kopf.cancel()
    await wait_stopped(kopf, 30, "kopf")
    assert kopf.cancelled()
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


async def test_an_error_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    await wait_stopped(asyncio.create_task(_failing()), 30, "kopf")
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "kopf stopped with an error"
    assert record.exc_info is not None and "kopf broke" in str(record.exc_info[1])


async def test_running_past_the_grace_is_abandoned(caplog: pytest.LogCaptureFixture) -> None:
    started = asyncio.Event()
    kopf = asyncio.create_task(_blocked(started))
    await wait_stopped(kopf, 0.01, "kopf")
    assert kopf.cancelled()
    assert "kopf did not stop within 0.01s" in caplog.text
