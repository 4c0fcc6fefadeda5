"""`kubectl apply` Convoys become ConvoyWorkflows; beads added to the spec reach the workflow.

The workflow here is a stand-in registered under the real type name (the real ConvoyWorkflow
is tested in tests/workflows): it records its input and every add_beads Update, so the tests
see exactly what the watcher sent through Temporal. The watcher is the real one, on a task
queue only this stand-in serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from gastown.api.convoy import ConvoyPhase
from gastown.api.identity import ANNOTATION_WORKFLOW_ID, convoy_workflow_id
from gastown.kube import CONVOYS, NotFound, patching, reading
from gastown.sandbox.temporal_dev import free_port
from gastown.workflows import contract as c
from gastown.workflows.messages import AddBeads, ConvoyCounts, ConvoyInput, ConvoyProgress
from tests.api.test_models import CONVOY_EXAMPLES
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import ThreadedWatcher, apply, stand_in_worker, wait_until, watching
from tests.operator.test_temporal_down import _pipe


@workflow.defn(name=c.CONVOY_WORKFLOW)
class StandInConvoy:
    def __init__(self) -> None:
        self.input: ConvoyInput | None = None
        self.told: list[list[str]] = []
        self.finished = False

    @workflow.run
    async def run(self, inp: ConvoyInput) -> None:
        self.input = inp
        await workflow.wait_condition(lambda: self.finished)

    @workflow.update(name=c.UPDATE_ADD_BEADS)
    async def add_beads(self, req: AddBeads) -> ConvoyProgress:
        self.told.append(req.beads)
        return ConvoyProgress(phase=ConvoyPhase.IN_PROGRESS, counts=ConvoyCounts())

    @workflow.query(name="input")
    def get_input(self) -> ConvoyInput | None:
        return self.input

    @workflow.query(name="told")
    def get_told(self) -> list[list[str]]:
        return self.told

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.finished = True


@pytest.fixture
async def convoy_worker(temporal_client: Client) -> AsyncIterator[Worker]:
    async with stand_in_worker(temporal_client, StandInConvoy, "convoys") as w:
        yield w


@pytest.fixture
def convoy_watcher(
    cluster: Cluster, temporal: TemporalDev, convoy_worker: Worker
) -> Iterator[ThreadedWatcher]:
    with watching(cluster, temporal, convoy_worker) as threaded:
        yield threaded


def convoy_doc(namespace: str, name: str, beads: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Convoy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"description": f"convoy {name}", "trackedBeads": beads, **spec},
    }


async def get_convoy(kube: ClusterKube, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = await kube.run(reading.get(CONVOYS, name, namespace))
    except NotFound:
        return None
    return obj


async def adopted(kube: ClusterKube, namespace: str, name: str) -> dict[str, Any] | None:
    obj = await get_convoy(kube, namespace, name)
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return obj if ANNOTATION_WORKFLOW_ID in annotations else None


async def runs(temporal_client: Client, wid: str) -> list[Any]:
    return [w async for w in temporal_client.list_workflows(f"WorkflowId = '{wid}'")]


async def test_the_go_originals_convoy_applied_with_kubectl_is_adopted(
    convoy_watcher: ThreadedWatcher,
    convoy_worker: Worker,
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    [sample] = CONVOY_EXAMPLES
    doc = yaml.safe_load(sample.read_text())
    doc["metadata"]["namespace"] = namespace  # the one value a test namespace forces
    target = tmp_path / sample.name
    target.write_text(yaml.safe_dump(doc))
    result = kubectl("apply", "-f", str(target))
    assert result.returncode == 0, result.stderr
    name = doc["metadata"]["name"]

    obj = await wait_until(lambda: adopted(kube, namespace, name), 30, "the convoy's adoption")
    wid = convoy_workflow_id(namespace, name)
    assert obj["metadata"]["annotations"][ANNOTATION_WORKFLOW_ID] == wid
    handle = temporal_client.get_workflow_handle(wid)
    desc = await handle.describe()
    assert (desc.workflow_type, desc.task_queue) == (c.CONVOY_WORKFLOW, convoy_worker.task_queue)
    assert desc.status == WorkflowExecutionStatus.RUNNING

    async def its_input() -> ConvoyInput | None:
        got: ConvoyInput | None = await handle.query("input", result_type=ConvoyInput)
        return got

    got = await wait_until(its_input, 20, "the workflow to take its input")
    # Identity only: the workflow reads the beads from the CR, never from its input.
    assert got == ConvoyInput(namespace=namespace, name=name, uid=obj["metadata"]["uid"])
    assert got.carried is None

    # Another event (a label) adopts nothing twice.
    result = kubectl("label", "convoy", name, "-n", namespace, "team=infra")
    assert result.returncode == 0, result.stderr
    watcher = convoy_watcher.watcher
    assert watcher is not None
    convoy_watcher.call(watcher.convoys.queue.idle())
    assert watcher.convoys.adopted == 1
    assert len(await runs(temporal_client, wid)) == 1
    await handle.signal("finish")


async def test_adoption_waits_for_temporal_and_then_happens_once(
    cluster: Cluster,
    temporal: TemporalDev,
    convoy_worker: Worker,
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    port = free_port()  # nothing listens here yet: Temporal is "down"
    down = TemporalDev(f"127.0.0.1:{port}", temporal.namespace)
    threaded = ThreadedWatcher(str(cluster.kubeconfig), down, convoy_worker.task_queue)
    watcher = threaded.start()
    server: asyncio.Server | None = None
    try:
        apply(kubectl, convoy_doc(namespace, "wave-2", ["dm-a1", "dm-b2"]))

        async def failed_twice() -> bool:
            return watcher.convoys.queue.failures >= 2

        await wait_until(failed_twice, 30, "adoption to fail twice")
        assert await adopted(kube, namespace, "wave-2") is None
        host, real_port = temporal.address.rsplit(":", 1)

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, int(real_port))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        server = await asyncio.start_server(forward, "127.0.0.1", port)  # Temporal is back
        await wait_until(
            lambda: adopted(kube, namespace, "wave-2"), 60, "the adoption once Temporal answers"
        )
        wid = convoy_workflow_id(namespace, "wave-2")
        assert len(await runs(temporal_client, wid)) == 1
        await temporal_client.get_workflow_handle(wid).signal("finish")
    finally:
        threaded.close()
        if server is not None:
            server.close()


async def test_a_bead_added_with_kubectl_patch_reaches_the_workflow(
    convoy_watcher: ThreadedWatcher,
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    watcher = convoy_watcher.watcher
    assert watcher is not None
    apply(kubectl, convoy_doc(namespace, "wave-3", ["dm-a1", "dm-b2"]))
    obj = await wait_until(lambda: adopted(kube, namespace, "wave-3"), 30, "the adoption")
    uid = obj["metadata"]["uid"]
    handle = temporal_client.get_workflow_handle(convoy_workflow_id(namespace, "wave-3"))

    # The workflow's first status write lists the beads it has (here the test writes it, as
    # the real workflow would): nothing is missing, so nothing is sent.
    status = {
        "phase": "InProgress",
        "beads": [{"beadID": "dm-a1", "phase": "Dispatched"}, {"beadID": "dm-b2"}],
    }
    await kube.run(patching.merge(CONVOYS, "wave-3", {"status": status}, namespace, status=True))

    async def compared(generation: int) -> bool:
        async def look() -> bool:
            return watcher.convoys.looked.get((namespace, "wave-3")) == (uid, generation)

        return bool(convoy_watcher.call(look()))

    await wait_until(lambda: compared(1), 20, "the watcher to compare spec and status")
    assert await handle.query("told", result_type=list[list[str]]) == []

    patch = '[{"op": "add", "path": "/spec/trackedBeads/-", "value": "dm-c3"}]'
    result = kubectl("patch", "convoy", "wave-3", "-n", namespace, "--type=json", "-p", patch)
    assert result.returncode == 0, result.stderr

    async def told() -> list[list[str]] | None:
        got: list[list[str]] = await handle.query("told", result_type=list[list[str]])
        return got or None

    assert await wait_until(told, 30, "the add_beads Update") == [["dm-c3"]]
    await wait_until(lambda: compared(2), 20, "the watcher to record the new generation")
    convoy_watcher.call(watcher.convoys.queue.idle())
    assert await handle.query("told", result_type=list[list[str]]) == [["dm-c3"]]
    assert watcher.convoys.updates == 1

    # A finished convoy is left alone: a bead added after the end is not sent.
    final = {"phase": "Complete"}
    await kube.run(patching.merge(CONVOYS, "wave-3", {"status": final}, namespace, status=True))

    async def forgotten() -> bool:
        async def look() -> bool:
            return (namespace, "wave-3") not in watcher.convoys.looked

        return bool(convoy_watcher.call(look()))

    await wait_until(forgotten, 20, "the watcher to see the convoy finished")
    patch = '[{"op": "add", "path": "/spec/trackedBeads/-", "value": "dm-d4"}]'
    result = kubectl("patch", "convoy", "wave-3", "-n", namespace, "--type=json", "-p", patch)
    assert result.returncode == 0, result.stderr

    # A convoy applied after the patch: once the watcher has adopted it, the patch's event
    # (earlier in the same stream) has been handed over too.
    apply(kubectl, convoy_doc(namespace, "marker", ["dm-m1"]))
    await wait_until(lambda: adopted(kube, namespace, "marker"), 30, "the marker's adoption")
    convoy_watcher.call(watcher.convoys.queue.idle())
    assert await handle.query("told", result_type=list[list[str]]) == [["dm-c3"]]
    assert watcher.convoys.updates == 1
    await handle.signal("finish")
    await temporal_client.get_workflow_handle(convoy_workflow_id(namespace, "marker")).signal(
        "finish"
    )
