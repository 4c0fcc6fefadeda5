"""The claim of a Polecat by its run (PolecatActivities._claim) against the sandbox API server:
the trace-id annotation follows the latest run, and an untraced re-run removes it."""

from __future__ import annotations

import pytest

from gastown.activities.polecats import PolecatActivities
from gastown.api import identity as ids
from gastown.kube import NO_RETRY, POLECATS, Kube, from_kubeconfig, reading, writing
from tests.conftest import Cluster

TRACE = "0123456789abcdef0123456789abcdef"
WORKFLOW = "polecat-nux"


@pytest.fixture(scope="module")
def kube(cluster: Cluster) -> Kube:
    return from_kubeconfig(str(cluster.kubeconfig), NO_RETRY)


def annotations(kube: Kube, namespace: str) -> dict[str, str]:
    obj = kube.run_sync(reading.get(POLECATS, "nux", namespace))
    return dict(obj["metadata"].get("annotations") or {})


async def test_an_untraced_rerun_removes_the_last_runs_trace(kube: Kube, namespace: str) -> None:
    body = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": "nux"},
        "spec": {"rig": "demo-rig", "beadID": "dm-0001", "desiredState": "Working"},
    }
    uid = kube.run_sync(writing.create(POLECATS, body, namespace))["metadata"]["uid"]
    acts = PolecatActivities(kube)
    labels = {"gastown.gastown.io/rig": "demo-rig"}

    await acts._claim(namespace, "nux", uid, WORKFLOW, labels, TRACE)
    assert annotations(kube, namespace)[ids.ANNOTATION_TRACE_ID] == TRACE

    await acts._claim(namespace, "nux", uid, WORKFLOW, labels, None)
    after = annotations(kube, namespace)
    assert ids.ANNOTATION_TRACE_ID not in after
    assert after[ids.ANNOTATION_WORKFLOW_ID] == WORKFLOW

    # Idempotent: a retried untraced claim writes nothing.
    version = kube.run_sync(reading.get(POLECATS, "nux", namespace))["metadata"]["resourceVersion"]
    obj = await acts._claim(namespace, "nux", uid, WORKFLOW, labels, None)
    assert obj["metadata"]["resourceVersion"] == version
    assert ids.ANNOTATION_TRACE_ID not in annotations(kube, namespace)
