"""The watcher against the sandbox cluster, the Temporal dev server and our worker.

The watcher runs in the test's event loop (like the e2e worker), with no Lease (one replica);
test_leader.py runs real `gastown-operator watcher` processes to test the Lease. Polecats are
applied with the real kubectl binary, as a user would.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
import yaml
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from gastown.kube import BACKOFF, from_kubeconfig
from gastown.operator.app import Watcher, WatcherOptions
from gastown.service.watcher import serve
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import (  # noqa: F401 - fixtures shared with the e2e tests
    kube,
    origin,
    pod_tools,
    rig_factory,
    temporal_client,
    wait_until,
    workdir,
    worker,
)

OPTIONS = WatcherOptions(rig_resync_seconds=1.0, watch_server_timeout=30)


async def _transports_closed(loop: asyncio.AbstractEventLoop, within: float) -> None:
    """Run the loop until it polls nothing but its own wake-up socket, or `within` passes
    (whatever is left then surfaces as a ResourceWarning, an error in this suite)."""
    selector = loop._selector  # type: ignore[attr-defined]  # what the loop still polls
    deadline = loop.time() + within
    while loop.time() < deadline:
        if len(selector.get_map()) <= 1:
            return
        await asyncio.sleep(0.01)


class ThreadedWatcher:
    """The watcher as the process runs it (service.watcher.serve), on a thread and event loop
    of its own: kopf cancels, when it stops, every task its loop gained after it started, which
    would include pytest's own fixture tasks if they shared a loop."""

    def __init__(
        self,
        kubeconfig: str,
        temporal: TemporalDev,
        task_queue: str,
        options: WatcherOptions = OPTIONS,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.options = options
        self.temporal = temporal
        self.task_queue = task_queue
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.watcher: Watcher | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="watcher", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            # kopf closes its watch connections gracefully; over TLS that is a close_notify
            # exchange the loop must still run, or the sockets outlive it.
            self.loop.run_until_complete(_transports_closed(self.loop, 5))
            # What asyncio.run does on the way out, so nothing of this loop outlives it.
            leftovers = asyncio.all_tasks(self.loop)
            for task in leftovers:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    async def _main(self) -> None:
        temporal = await Client.connect(
            self.temporal.address,
            namespace=self.temporal.namespace,
            data_converter=pydantic_data_converter,
            lazy=True,  # as the process does: Temporal may be down when the watcher starts
        )
        # The transport the watcher process uses (gastown.service.watcher: lean).
        api = from_kubeconfig(self.kubeconfig, BACKOFF, lean=True)
        self.watcher = Watcher(api, temporal, self.task_queue, self.options)
        self.stop = asyncio.Event()
        self.ready.set()
        await serve(self.watcher, None, self.stop)

    def start(self) -> Watcher:
        self.thread.start()
        assert self.ready.wait(30), "the watcher did not start"
        if self.error is not None:
            raise self.error
        assert self.watcher is not None
        return self.watcher

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        """Run a coroutine on the watcher's loop (e.g. to wait for its queues to drain)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(45)


@pytest.fixture
def watcher_thread(
    cluster: Cluster,
    temporal: TemporalDev,
    worker: Worker,  # noqa: F811
) -> Iterator[ThreadedWatcher]:
    with watching(cluster, temporal, worker) as threaded:
        yield threaded


@asynccontextmanager
async def stand_in_worker(client: Client, workflow: type, queue: str) -> AsyncIterator[Worker]:
    """A worker of one stand-in workflow (registered under a real one's name) on a task queue
    of its own named after `queue`, so a test sees what the watcher starts and signals."""
    w = Worker(
        client,
        task_queue=f"{queue}-{secrets.token_hex(4)}",
        workflows=[workflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with w:
        yield w


@contextmanager
def watching(
    cluster: Cluster, temporal: TemporalDev, on: Worker, options: WatcherOptions = OPTIONS
) -> Iterator[ThreadedWatcher]:
    """The watcher, starting its workflows on the task queue of `on`."""
    threaded = ThreadedWatcher(str(cluster.kubeconfig), temporal, on.task_queue, options)
    threaded.start()
    yield threaded
    threaded.close()


@pytest.fixture
def watcher(watcher_thread: ThreadedWatcher) -> Watcher:
    assert watcher_thread.watcher is not None
    return watcher_thread.watcher


def apply(kubectl: Callable[..., Any], doc: dict[str, Any]) -> None:
    result = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc))
    assert result.returncode == 0, result.stderr


def polecat_doc(namespace: str, name: str, rig: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"rig": rig, "beadID": "dm-0001", "agent": "command", **spec},
    }
