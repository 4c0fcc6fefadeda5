"""ConvoyWorkflow on the real path: the Convoy CR in the sandbox cluster, our worker with its
real activities, real polecat pods running the demo agent. (The CLI's `convoy create` and the
acceptance runs are tests/e2e/test_convoy_cli.py and test_convoy.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api import identity as ids
from gastown.api.convoy import BeadPhase, ConvoyPhase
from gastown.api.crd import API_VERSION
from gastown.kube import CONVOYS, EVENTS, reading, writing
from gastown.workflows import contract as c
from gastown.workflows.messages import ConvoyInput, ConvoyProgress
from tests.e2e.conftest import ClusterKube


async def test_a_convoy_dispatches_its_beads_and_completes(
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    kube: ClusterKube,
) -> None:
    rig = rig_factory()
    beads = ["dm-1", "dm-2", "dm-3"]
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Convoy",
        "metadata": {"name": "wave"},
        "spec": {"description": "Wave 1", "trackedBeads": beads, "rigRef": rig,
                 "parallelism": 2, "agent": "command"},
    }  # fmt: skip
    convoy = await kube.run(writing.create(CONVOYS, body, namespace))
    uid = convoy["metadata"]["uid"]
    handle = await temporal_client.start_workflow(
        c.CONVOY_WORKFLOW,
        ConvoyInput(namespace=namespace, name="wave", uid=uid),
        id=ids.convoy_workflow_id(namespace, "wave"),
        task_queue=worker.task_queue,
        result_type=ConvoyProgress,
    )
    result: ConvoyProgress = await asyncio.wait_for(handle.result(), 180)

    assert (result.phase, result.counts.done) == (ConvoyPhase.COMPLETE, 3), result
    assert all(b.phase == BeadPhase.DONE and b.branch for b in result.beads)
    status = (await kube.run(reading.get(CONVOYS, "wave", namespace)))["status"]
    assert (status["phase"], status["progress"]) == ("Complete", "3/3")
    assert status["completedBeads"] == beads and "completedAt" in status
    for bead in beads:
        name = f"wave-{bead}"
        polecat = await kube.get_polecat(namespace, name)
        meta = polecat["metadata"]
        assert meta["labels"][ids.LABEL_CONVOY] == "wave"
        assert [o["uid"] for o in meta["ownerReferences"]] == [uid]
        assert polecat["status"]["phase"] == "Done"
        [pod] = await kube.pods(namespace, f"{ids.LABEL_POLECAT}={name}")
        assert ids.ANNOTATION_DELETE_AFTER in pod["metadata"]["annotations"]
    events = [e for e in await kube.run(reading.items(EVENTS, namespace))
              if e["involvedObject"]["uid"] == uid]  # fmt: skip
    assert [(e["reason"], e["type"]) for e in events] == [("AllBeadsDone", "Normal")]
    # Its polecats are found by the convoy's search attribute.
    found = [
        w.id
        async for w in temporal_client.list_workflows(
            f"GastownConvoy = 'wave' AND WorkflowType = '{c.POLECAT_WORKFLOW}' "
            f"AND TaskQueue = '{worker.task_queue}'"
        )
    ]
    assert sorted(found) == [ids.polecat_workflow_id(namespace, f"wave-{b}") for b in beads]
