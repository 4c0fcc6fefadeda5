"""The watcher under the sandbox's faults: cut streams, a forced 410, failing status patches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubernetes import client
from temporalio.client import Client

from gastown.api.identity import LABEL_POLECAT, polecat_workflow_id
from gastown.operator.app import Watcher
from gastown.sandbox.cluster import Sandbox
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import apply, polecat_doc, wait_until
from tests.operator.test_lifecycle import demo, status_of

NAMES = {"ace": "Done", "coma": "Done", "slit": "Done", "morsov": "Failed"}


async def test_every_polecat_finishes_right_through_faults(
    sandbox: Sandbox,
    watcher: Watcher,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    good = rig_factory()
    bad = rig_factory(agentConfig=demo("fail"))
    faults = sandbox.faults
    faults.cut_watches(after_seconds=2.0)  # every stream, every two seconds
    faults.expire_next_watch(1)  # the next resumed watch gets 410 Gone
    # 10 % of status patches fail: half with 500, half with 409; and some are throttled (429
    # with Retry-After, which the watcher's writes honour).
    faults.fail("patch", "polecats/status", share=0.05, code=500, seed=1)
    faults.fail("patch", "polecats/status", share=0.05, code=409, seed=2)
    faults.fail("patch", "polecats/status", share=0.05, code=429, retry_after=1, seed=3)
    for name, final in NAMES.items():
        rig = good if final == "Done" else bad
        apply(
            kubectl, polecat_doc(namespace, name, rig, desiredState="Working", beadID=f"dm-{name}")
        )
    await asyncio.to_thread(sandbox.expire_history)  # and history compacted under every watcher

    async def all_final() -> bool:
        phases = {n: (await status_of(kube, namespace, n)).get("phase") for n in NAMES}
        return phases == NAMES

    await wait_until(all_final, 150, f"every polecat to reach {NAMES}")
    hits = sum(rule.hits for rule in faults.rules)
    assert hits > 0, "the faults never fired: this test tested nothing"

    # The mirror converged on each final pod despite failed patches.
    async def mirrored() -> bool:
        for name, final in NAMES.items():
            pod = (await status_of(kube, namespace, name)).get("pod") or {}
            if pod.get("phase") != ("Succeeded" if final == "Done" else "Failed"):
                return False
        return True

    await wait_until(mirrored, 30, "status.pod of every polecat to show its finished pod")
    for name in NAMES:
        wid = polecat_workflow_id(namespace, name)
        runs = [w async for w in temporal_client.list_workflows(f"WorkflowId = '{wid}'")]
        assert len(runs) == 1, (name, runs)
        pods = await asyncio.to_thread(
            core.list_namespaced_pod, namespace, label_selector=f"{LABEL_POLECAT}={name}"
        )
        assert [p.metadata.name for p in pods.items] == [f"polecat-{name}-1"]
