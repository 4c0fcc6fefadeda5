"""The watcher's work queue stops when asked, even when the call it is in swallows the
cancellation.

The Temporal client answers a cancelled update RPC with an error ("Timeout or cancellation
waiting for update"), not with CancelledError. A queue that retried that error kept the
watcher's shutdown waiting forever (a CI run: "watcher did not stop"). The update here is
real: a workflow started on a task queue nobody polls, so the update waits until cancelled.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError

from gastown.operator.queue import WorkQueue
from tests.conftest import TemporalDev


async def test_close_stops_a_worker_whose_update_turns_cancellation_into_an_error(
    temporal: TemporalDev,
) -> None:
    client = await Client.connect(temporal.address, namespace=temporal.namespace)
    nobody = f"nobody-{secrets.token_hex(4)}"
    handle = await client.start_workflow(
        "NoSuchWorkflow", id=f"wq-{secrets.token_hex(4)}", task_queue=nobody
    )
    started = asyncio.Event()
    errors: list[BaseException] = []

    async def update(_key: str, _item: Any) -> None:
        started.set()
        try:
            await handle.execute_update("never-answered", result_type=str)
        except BaseException as exc:
            errors.append(exc)
            raise

    queue: WorkQueue[str] = WorkQueue("test", update, initial_backoff=0.01, max_backoff=0.01)
    try:
        queue.put("k", None)
        await asyncio.wait_for(started.wait(), 30)
        # asyncio.wait, not wait_for: a close that hangs must fail the test, not hang it too.
        closing = asyncio.ensure_future(queue.close())
        finished, _ = await asyncio.wait({closing}, timeout=30)
        assert finished, "close() did not return: the queue retried a cancelled update"
        assert queue.busy() == 0
        # The premise: the client did turn the cancellation into its own error…
        assert any(isinstance(e, WorkflowUpdateRPCTimeoutOrCancelledError) for e in errors), errors
        # …and the queue did not count it as a failure to retry.
        assert queue.failures == 0
    finally:
        await handle.terminate()


async def test_a_handler_error_is_still_retried_while_open() -> None:
    calls = 0
    done = asyncio.Event()

    async def flaky(_key: str, _item: Any) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("transient")
        done.set()

    queue: WorkQueue[str] = WorkQueue("test", flaky, initial_backoff=0.01, max_backoff=0.01)
    queue.put("k", None)
    await asyncio.wait_for(done.wait(), 10)
    await queue.close()
    assert (calls, queue.failures) == (3, 2)
