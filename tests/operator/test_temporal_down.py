"""Temporal unreachable when a polecat is applied: the adoption waits and happens once
Temporal is back, with one workflow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api.identity import polecat_workflow_id
from gastown.sandbox.temporal_dev import free_port
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import ThreadedWatcher, apply, polecat_doc, wait_until
from tests.operator.test_lifecycle import status_of


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_adoption_waits_for_temporal_and_then_happens_once(
    cluster: Cluster,
    temporal: TemporalDev,
    worker: Worker,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    port = free_port()  # nothing listens here yet: Temporal is "down"
    down = TemporalDev(f"127.0.0.1:{port}", temporal.namespace)
    threaded = ThreadedWatcher(str(cluster.kubeconfig), down, worker.task_queue)
    watcher = threaded.start()
    server: asyncio.Server | None = None
    try:
        rig = rig_factory()
        apply(kubectl, polecat_doc(namespace, "cundalini", rig, desiredState="Working"))
        await wait_until(
            lambda: _true(watcher.polecats.queue.failures >= 2), 30, "adoption to fail twice"
        )
        assert await status_of(kube, namespace, "cundalini") == {}
        host, real_port = temporal.address.rsplit(":", 1)

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, int(real_port))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        server = await asyncio.start_server(forward, "127.0.0.1", port)  # Temporal is back

        async def done() -> bool:
            return (await status_of(kube, namespace, "cundalini")).get("phase") == "Done"

        await wait_until(done, 90, "the adoption to happen once Temporal answers")
        wid = polecat_workflow_id(namespace, "cundalini")
        runs = [w async for w in temporal_client.list_workflows(f"WorkflowId = '{wid}'")]
        assert len(runs) == 1
    finally:
        threaded.close()
        if server is not None:
            server.close()


async def _true(value: bool) -> bool:
    return value
