"""`kubectl apply` polecats become workflows; delete and Terminated end them; pods mirrored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubernetes import client
from temporalio.client import Client, WorkflowExecutionStatus

from gastown.api.identity import ANNOTATION_WORKFLOW_ID, LABEL_POLECAT, polecat_workflow_id
from gastown.kube import NotFound
from gastown.operator import finalizer
from gastown.operator.app import Watcher
from gastown.sandbox.cluster import Sandbox
from gastown.workflows.messages import PolecatResult
from tests.e2e.conftest import DEMO_AGENT, ClusterKube
from tests.operator.conftest import ThreadedWatcher, apply, polecat_doc, wait_until


def demo(mode: str) -> dict[str, Any]:
    return {"command": DEMO_AGENT, "env": [{"name": "DEMO_AGENT_MODE", "value": mode}]}


async def get(kube: ClusterKube, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return await kube.get_polecat(namespace, name)
    except NotFound:
        return None


async def status_of(kube: ClusterKube, namespace: str, name: str) -> dict[str, Any]:
    obj = await get(kube, namespace, name)
    return (obj or {}).get("status") or {}


async def pods_of(core: client.CoreV1Api, namespace: str, name: str) -> list[Any]:
    found = await asyncio.to_thread(
        core.list_namespaced_pod, namespace, label_selector=f"{LABEL_POLECAT}={name}"
    )
    return list(found.items)


async def test_applied_polecat_is_adopted_and_mirrored(
    watcher: Watcher,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    rig = rig_factory()
    apply(kubectl, polecat_doc(namespace, "angharad", rig, desiredState="Working"))

    async def done() -> bool:
        return (await status_of(kube, namespace, "angharad")).get("phase") == "Done"

    await wait_until(done, 90, "the applied polecat to finish")
    obj = await kube.get_polecat(namespace, "angharad")
    wid = polecat_workflow_id(namespace, "angharad")
    assert obj["metadata"]["annotations"][ANNOTATION_WORKFLOW_ID] == wid
    assert finalizer.NAME in obj["metadata"]["finalizers"]
    status = obj["status"]
    assert (status["outcome"], status["workflowID"]) == ("completed", wid)
    handle = temporal_client.get_workflow_handle(wid, result_type=PolecatResult)
    assert (await asyncio.wait_for(handle.result(), 30)).phase.value == "Done"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    # The watcher's mirror of the finished pod, beside (not instead of) the workflow's fields.
    async def mirrored() -> dict[str, Any] | None:
        pod = (await status_of(kube, namespace, "angharad")).get("pod") or {}
        return pod if pod.get("phase") == "Succeeded" else None

    pod = await wait_until(mirrored, 10, "status.pod to show the finished pod")
    assert pod["name"] == "polecat-angharad-1"
    assert pod["ready"] is False
    assert pod["startedAt"] and pod["finishedAt"] and pod["observedAt"]
    claude = next(c for c in pod["containers"] if c["name"] == "claude")
    assert (claude["state"], claude["reason"], claude["exitCode"]) == ("terminated", "Completed", 0)
    init = next(c for c in pod["containers"] if c["name"] == "git-init")
    assert init["state"] == "terminated"
    assert "waiting" not in str(pod), "a cleared waiting reason must not linger"
    assert status["conditions"]  # the workflow's fields survived the watcher's patches


async def test_idle_waits_then_working_starts(
    watcher: Watcher,
    watcher_thread: ThreadedWatcher,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    rig = rig_factory()
    apply(kubectl, polecat_doc(namespace, "capable", rig, desiredState="Idle"))

    async def seen() -> bool:
        obj = await get(kube, namespace, "capable")
        return obj is not None and finalizer.NAME in (obj["metadata"].get("finalizers") or [])

    await wait_until(seen, 20, "the watcher to take the idle polecat in")
    watcher_thread.call(watcher.polecats.queue.idle())
    obj = await kube.get_polecat(namespace, "capable")
    assert ANNOTATION_WORKFLOW_ID not in (obj["metadata"].get("annotations") or {})
    assert await watcher.workflows.describe(namespace, "capable") is None

    result = kubectl(
        "patch", "polecat", "capable", "-n", namespace, "--type=merge",
        "-p", '{"spec":{"desiredState":"Working"}}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    async def done() -> bool:
        return (await status_of(kube, namespace, "capable")).get("phase") == "Done"

    await wait_until(done, 90, "the polecat to run once Working")


async def test_delete_mid_run_ends_the_workflow_and_the_pod(
    watcher: Watcher,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    rig = rig_factory(agentConfig=demo("sleep:120"))
    apply(kubectl, polecat_doc(namespace, "dag", rig, desiredState="Working"))

    async def running() -> bool:
        pod = (await status_of(kube, namespace, "dag")).get("pod") or {}
        return pod.get("phase") == "Running"

    await wait_until(running, 60, "status.pod to show the running pod")
    # kubectl delete waits for the finalizer: it returns once the work has stopped.
    result = await asyncio.to_thread(
        kubectl, "delete", "polecat", "dag", "-n", namespace, "--timeout=90s"
    )
    assert result.returncode == 0, result.stderr
    assert await get(kube, namespace, "dag") is None
    live = [p for p in await pods_of(core, namespace, "dag") if p.status.phase == "Running"]
    assert not [p for p in live if p.metadata.deletion_timestamp is None]
    handle = temporal_client.get_workflow_handle(
        polecat_workflow_id(namespace, "dag"), result_type=PolecatResult
    )
    assert (await asyncio.wait_for(handle.result(), 30)).phase.value == "Terminated"


async def test_patch_to_terminated_ends_it_and_keeps_the_cr(
    watcher: Watcher,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    rig = rig_factory(agentConfig=demo("sleep:120"))
    apply(kubectl, polecat_doc(namespace, "toast", rig, desiredState="Working"))

    async def running() -> bool:
        return (await status_of(kube, namespace, "toast")).get("phase") == "Working"

    await wait_until(running, 60, "the polecat to work")
    result = kubectl(
        "patch", "polecat", "toast", "-n", namespace, "--type=merge",
        "-p", '{"spec":{"desiredState":"Terminated"}}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    async def terminated() -> bool:
        return (await status_of(kube, namespace, "toast")).get("phase") == "Terminated"

    await wait_until(terminated, 60, "the polecat to be terminated")

    async def pod_gone() -> bool:
        return not await pods_of(core, namespace, "toast")

    await wait_until(pod_gone, 30, "the pod to be deleted")
    handle = temporal_client.get_workflow_handle(
        polecat_workflow_id(namespace, "toast"), result_type=PolecatResult
    )
    assert (await asyncio.wait_for(handle.result(), 30)).phase.value == "Terminated"
    assert await get(kube, namespace, "toast") is not None
    # A finished polecat goes at once when deleted.
    result = await asyncio.to_thread(
        kubectl, "delete", "polecat", "toast", "-n", namespace, "--timeout=30s"
    )
    assert result.returncode == 0, result.stderr


async def test_changing_the_bead_of_a_running_polecat_is_refused(
    watcher: Watcher,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    sandbox: Sandbox,
) -> None:
    """The API server refuses by the CRD's CEL rule; the watcher's check is the fallback for
    a cluster that does not evaluate it (rules turned off in the sandbox for the second part)."""
    rig = rig_factory(agentConfig=demo("sleep:120"))
    apply(kubectl, polecat_doc(namespace, "morsov", rig, desiredState="Working"))

    async def working() -> bool:
        return (await status_of(kube, namespace, "morsov")).get("phase") == "Working"

    await wait_until(working, 60, "the polecat to work")
    change = '{"spec":{"beadID":"dm-9999"}}'
    result = kubectl("patch", "polecat", "morsov", "-n", namespace, "--type=merge", "-p", change)
    assert result.returncode == 1
    assert "spec.beadID cannot change once set; create a new polecat" in result.stderr
    store = sandbox.store
    assert store is not None
    sandbox.call(lambda: setattr(store, "validation_rules", False))
    try:
        await the_watcher_refuses_and_recovers(kube, core, kubectl, namespace, change)
    finally:
        sandbox.call(lambda: setattr(store, "validation_rules", True))


async def the_watcher_refuses_and_recovers(
    kube: ClusterKube,
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    namespace: str,
    change: str,
) -> None:
    result = kubectl("patch", "polecat", "morsov", "-n", namespace, "--type=merge", "-p", change)
    assert result.returncode == 0, result.stderr

    async def refused() -> dict[str, Any] | None:
        conds = (await status_of(kube, namespace, "morsov")).get("conditions") or []
        return next((c for c in conds if c["type"] == "SpecAccepted"), None)

    cond = await wait_until(refused, 20, "the SpecAccepted condition")
    assert (cond["status"], cond["reason"]) == ("False", "ImmutableFieldChanged")
    assert "spec.beadID" in cond["message"] and "dm-0001" in cond["message"]
    events = await asyncio.to_thread(core.list_namespaced_event, namespace)
    assert any(e.reason == "ImmutableFieldChanged" for e in events.items)
    # Nothing half-applied: the pod still works the bead it started with.
    pod = await asyncio.to_thread(core.read_namespaced_pod, "polecat-morsov-1", namespace)
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["GT_BEAD_ID"] == "dm-0001"
    status = await status_of(kube, namespace, "morsov")
    assert status["phase"] == "Working"
    result = kubectl(
        "patch", "polecat", "morsov", "-n", namespace, "--type=merge",
        "-p", '{"spec":{"beadID":"dm-0001","desiredState":"Terminated"}}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    async def accepted_and_ended() -> bool:
        st = await status_of(kube, namespace, "morsov")
        cond = next(c for c in st.get("conditions") or [] if c["type"] == "SpecAccepted")
        return cond["status"] == "True" and st.get("phase") == "Terminated"

    await wait_until(accepted_and_ended, 60, "SpecAccepted True again, then Terminated")


async def test_applied_polecats_over_the_rig_limit_queue_like_slung_ones(
    watcher: Watcher,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    core: client.CoreV1Api,
) -> None:
    """maxPolecats holds for `kubectl apply` too: the second applied polecat of a one-slot
    rig shows Queued in `kubectl get polecats` and starts when the first is deleted."""
    rig = rig_factory(agentConfig=demo("sleep:60"))
    patch = '{"spec": {"settings": {"maxPolecats": 1}}}'
    assert kubectl("patch", "rig", rig, "--type=merge", "-p", patch).returncode == 0
    apply(kubectl, polecat_doc(namespace, "furiosa", rig, desiredState="Working"))

    async def phase(name: str) -> str | None:
        return (await status_of(kube, namespace, name)).get("phase")

    async def working(name: str) -> bool:
        return await phase(name) == "Working"

    await wait_until(lambda: working("furiosa"), 60, "the first polecat to work")
    apply(kubectl, polecat_doc(namespace, "nux", rig, desiredState="Working", beadID="dm-2"))

    async def queued() -> bool:
        return await phase("nux") == "Queued"

    await wait_until(queued, 60, "the second polecat to queue")
    shown = kubectl("get", "polecats", "-n", namespace, "nux", "--no-headers")
    assert "Queued" in shown.stdout
    assert await pods_of(core, namespace, "nux") == []
    # kubectl delete waits for the finalizer, which needs this loop's worker: off the loop.
    for name in ("furiosa", "nux"):
        deleted = await asyncio.to_thread(
            kubectl, "delete", "polecat", name, "-n", namespace, "--timeout=90s"
        )
        assert deleted.returncode == 0, deleted.stderr
        if name == "furiosa":
            await wait_until(lambda: working("nux"), 60, "the queued polecat to start")
