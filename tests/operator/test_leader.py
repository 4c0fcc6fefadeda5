"""Two `gastown-operator watcher` processes: one leads (a Lease), the other takes over when
the leader is killed, and no polecat is adopted twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api.identity import polecat_workflow_id
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import apply, polecat_doc, wait_until
from tests.operator.test_lifecycle import status_of

BIN = Path(sys.executable).parent
LEASE_SECONDS = 3


@pytest.fixture
async def replicas(
    cluster: Cluster, temporal: TemporalDev, worker: Worker, namespace: str, workdir: Path
) -> AsyncIterator[dict[str, asyncio.subprocess.Process]]:
    procs: dict[str, asyncio.subprocess.Process] = {}
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    for identity in ("replica-a", "replica-b"):
        # The child holds its own copy of the descriptor; ours is closed once it is started.
        with (workdir / f"{identity}.log").open("w") as log:
            procs[identity] = await asyncio.create_subprocess_exec(
                str(BIN / "gastown-operator"), "watcher",
                "--temporal-address", temporal.address,
                "--temporal-namespace", temporal.namespace,
                "--task-queue", worker.task_queue,
                "--lease-namespace", namespace,
                "--identity", identity,
                "--lease-seconds", str(LEASE_SECONDS),
                "--renew-seconds", "1",
                env=env, stdout=log, stderr=log,
            )  # fmt: skip
    yield procs
    for proc in procs.values():
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        await asyncio.wait_for(proc.wait(), 30)


async def holder(coordination: client.CoordinationV1Api, namespace: str) -> str | None:
    try:
        lease = await asyncio.to_thread(
            coordination.read_namespaced_lease, "gastown-watcher", namespace
        )
    except client.ApiException:
        return None
    return str(lease.spec.holder_identity or "") or None


async def test_leader_killed_the_other_takes_over(
    replicas: dict[str, asyncio.subprocess.Process],
    api_client: client.ApiClient,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
    workdir: Path,
) -> None:
    coordination = client.CoordinationV1Api(api_client)
    rig = rig_factory()
    first = await wait_until(lambda: holder(coordination, namespace), 30, "a leader")
    apply(kubectl, polecat_doc(namespace, "nux", rig, desiredState="Working"))

    async def done(name: str) -> bool:
        return (await status_of(kube, namespace, name)).get("phase") == "Done"

    await wait_until(lambda: done("nux"), 90, "the leader to run the first polecat")
    replicas[first].kill()
    await replicas[first].wait()
    loop = asyncio.get_running_loop()
    killed_at = loop.time()

    async def other() -> str | None:
        now = await holder(coordination, namespace)
        return now if now not in (None, first) else None

    second = await wait_until(other, LEASE_SECONDS + 10, "the other replica to take the Lease")
    took = loop.time() - killed_at
    assert took < LEASE_SECONDS + 5, f"handover took {took:.1f}s"
    apply(kubectl, polecat_doc(namespace, "slit", rig, desiredState="Working", beadID="dm-2"))
    await wait_until(lambda: done("slit"), 90, "the new leader to run the second polecat")
    for name in ("nux", "slit"):
        wid = polecat_workflow_id(namespace, name)
        runs = [w async for w in temporal_client.list_workflows(f"WorkflowId = '{wid}'")]
        assert len(runs) == 1, (name, runs)
    logs = {r: (workdir / f"{r}.log").read_text() for r in replicas}
    assert "adopted polecat" in logs[first] and "nux" in logs[first], logs[first]
    assert "nux" not in logs[second].split("took the lease")[0], "a follower acted"
    assert "adopted polecat" in logs[second], logs[second]
