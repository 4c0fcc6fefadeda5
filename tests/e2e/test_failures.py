"""One test per failure class of DESIGN.md, through the real worker, sandbox and runtime.

Tests using the `pod_mode` fixture run twice: pods as local processes, and pods as podman
containers of the real polecat-agent image (the sandbox's container mode).

Specs that `sling` has no flag for (retry policy, resources) are started the way `kubectl
apply` and the watcher start them: the CR, then its workflow with the polecat's identity.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from gastown.api import identity as ids
from gastown.api.identity import LABEL_POLECAT, polecat_workflow_id
from gastown.kube import NotFound
from gastown.sandbox import Sandbox
from gastown.workflows.messages import PolecatResult
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import (
    DEMO_AGENT,
    TEST_DEFAULTS,
    ClusterKube,
    Result,
    apply_and_start,
    wait_until,
)

FAST = dataclasses.replace(TEST_DEFAULTS, pending_timeout_seconds=3, image_pull_grace_seconds=30)
NO_BACKOFF = {"maxAttempts": 2, "backoffSeconds": 0}


def demo(mode: str) -> dict[str, Any]:
    return {"command": DEMO_AGENT, "env": [{"name": "DEMO_AGENT_MODE", "value": mode}]}


async def start(
    temporal_client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    name: str,
    spec: dict[str, Any],
) -> WorkflowHandle[Any, PolecatResult]:
    handle: WorkflowHandle[Any, PolecatResult] = await apply_and_start(
        temporal_client, kube, worker.task_queue, namespace, name, spec
    )
    return handle


async def phase_of(kube: ClusterKube, namespace: str, name: str) -> str | None:
    try:
        polecat = await kube.get_polecat(namespace, name)
    except NotFound:
        return None
    return (polecat.get("status") or {}).get("phase")


async def pod_waiting(core: client.CoreV1Api, namespace: str, pod: str, reason: str) -> bool:
    def check() -> bool:
        try:
            p = core.read_namespaced_pod(pod, namespace)
        except client.ApiException:
            return False
        statuses = (p.status.init_container_statuses or []) + (p.status.container_statuses or [])
        return any(s.state.waiting and s.state.waiting.reason == reason for s in statuses)

    return await asyncio.to_thread(check)


async def pod_running(core: client.CoreV1Api, namespace: str, pod: str) -> bool:
    def check() -> bool:
        try:
            return core.read_namespaced_pod(pod, namespace).status.phase == "Running"
        except client.ApiException:
            return False

    return await asyncio.to_thread(check)


@pytest.mark.parametrize("worker", [FAST], indirect=True)
async def test_image_pull_backoff_inside_the_grace_window_then_pulling(
    sandbox: Sandbox,
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
) -> None:
    # A polecat-agent image: its ENTRYPOINT (process mode: image_commands) runs `args`.
    rig = rig_factory(image="example.org/gastown/polecat-agent:pull-fails")
    handle = await start(
        temporal_client, worker, kube, namespace, "ace", {"rig": rig, "beadID": "dm-1"}
    )
    await wait_until(
        lambda: pod_waiting(core, namespace, "polecat-ace-1", "ImagePullBackOff"), 30, "backoff"
    )
    before = sandbox.config.pull_failing_images
    sandbox.config.pull_failing_images = ()
    try:
        result = await asyncio.wait_for(handle.result(), 60)
    finally:
        sandbox.config.pull_failing_images = before
    assert (result.phase.value, result.attempts) == ("Done", 1)


@pytest.mark.usefixtures("pod_mode")
@pytest.mark.parametrize(
    "pod_mode", [pytest.param("containers", marks=pytest.mark.containers)], indirect=True
)
async def test_an_image_missing_from_local_storage_is_a_pull_failure(
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
) -> None:
    """Container mode pulls nothing: an image podman does not have is ErrImagePull, then
    ImagePullBackOff, past the grace window a transient failure, as from a registry."""
    rig = rig_factory(image="ghcr.io/gastown/polecat-agent:0.0.0-missing")
    handle = await start(
        temporal_client,
        worker,
        kube,
        namespace,
        "lost",
        {"rig": rig, "beadID": "dm-1", "retryPolicy": NO_BACKOFF},
    )
    await wait_until(
        lambda: pod_waiting(core, namespace, "polecat-lost-1", "ErrImagePull"), 30, "pull error"
    )
    result = await asyncio.wait_for(handle.result(), 90)
    assert (result.phase.value, result.attempts) == ("Failed", 2)
    # Whichever of the two alternating states the grace window ended on.
    assert result.reason in ("ErrImagePull", "ImagePullBackOff")


@pytest.mark.parametrize(
    "worker", [dataclasses.replace(TEST_DEFAULTS, image="UPPER/Case!")], indirect=True
)
async def test_invalid_image_fails_at_once(
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    kube: ClusterKube,
) -> None:
    # The CRD refuses such names, so only a misconfigured worker default can produce one.
    rig = rig_factory()
    handle = await start(
        temporal_client, worker, kube, namespace, "dag", {"rig": rig, "beadID": "dm-1"}
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert (result.phase.value, result.reason, result.attempts) == ("Failed", "InvalidImageName", 1)
    polecat = await kube.get_polecat(namespace, "dag")
    assert (
        "InvalidImageName" in polecat["status"]["message"] or polecat["status"]["phase"] == "Failed"
    )


async def test_missing_secret_is_refused_before_any_pod(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    temporal_client: Client,
) -> None:
    rig = rig_factory(gitSecretRef={"name": "no-such-secret"})
    result = await gt("sling", "dm-1", rig, "--name", "keeper", "--agent", "command", "--wait")
    assert result.code == 1
    assert "Secret 'no-such-secret' (git credentials) not found" in result.err
    assert "kubectl create secret generic no-such-secret" in result.err
    status = (await kube.get_polecat(namespace, "keeper"))["status"]
    assert (status["phase"], status["conditions"][0]["reason"]) == ("Failed", "MissingSecret")
    assert await kube.pods(namespace, f"{LABEL_POLECAT}=keeper") == []


@pytest.mark.usefixtures("pod_mode")
async def test_missing_secret_in_the_pod_is_terminal(
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    kube: ClusterKube,
) -> None:
    agent = demo("edit")
    agent["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}})
    rig = rig_factory(agentConfig=agent)
    handle = await start(
        temporal_client, worker, kube, namespace, "coma", {"rig": rig, "beadID": "dm-1"}
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert (result.phase.value, result.reason, result.attempts) == (
        "Failed",
        "CreateContainerConfigError",
        1,
    )


@pytest.mark.parametrize("worker", [FAST], indirect=True)
async def test_unschedulable_past_the_pending_timeout(
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    kube: ClusterKube,
) -> None:
    rig = rig_factory(resources={"requests": {"cpu": "64"}})
    handle = await start(
        temporal_client,
        worker,
        kube,
        namespace,
        "slit",
        {"rig": rig, "beadID": "dm-1", "retryPolicy": NO_BACKOFF},
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert (result.phase.value, result.reason, result.attempts) == ("Failed", "Unschedulable", 2)
    polecat = await kube.get_polecat(namespace, "slit")
    assert polecat["status"]["phase"] == "Failed"
    assert "Insufficient cpu" in polecat["status"]["message"]


@pytest.mark.usefixtures("pod_mode")
async def test_the_deadline_stops_the_agent_in_time_for_the_publisher(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
) -> None:
    """An agent still working near the pod's deadline is stopped by its runtime (its budget:
    20 s less a 10 s reserve, counted from git-init's start), so the publisher runs and the
    polecat ends Stuck with the reason, where the kubelet's deadline would have killed the pod
    and the work with it."""
    rig = rig_factory(agentConfig=demo("sleep:120"))
    result = await gt(
        "sling",
        "dm-1",
        rig,
        "--name",
        "rictus",
        "--agent",
        "command",
        "--deadline",
        "20",
        "--wait",
        "--timeout",
        "90",
    )
    assert result.code == 1
    assert "rictus Stuck: the agent ran out of its time" in result.err, result.err
    polecat = await kube.get_polecat(namespace, "rictus")
    status = polecat["status"]
    assert (status["phase"], status["outcome"]) == ("Stuck", "stuck"), status
    assert status["attempt"] == 1


@pytest.mark.usefixtures("pod_mode")
async def test_agent_failed(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
) -> None:
    rig = rig_factory(agentConfig=demo("fail"))
    result = await gt("sling", "dm-1", rig, "--name", "doof", "--agent", "command", "--wait")
    assert result.code == 1
    assert "doof Failed" in result.err
    polecat = await kube.get_polecat(namespace, "doof")
    assert (polecat["status"]["phase"], polecat["status"]["outcome"]) == ("Failed", "agent_failed")


async def test_no_changes_is_done_without_a_push(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
) -> None:
    rig = rig_factory(agentConfig=demo("noop"))
    result = await gt("sling", "dm-1", rig, "--name", "hope", "--agent", "command", "--wait")
    assert result.code == 0, result.err
    polecat = await kube.get_polecat(namespace, "hope")
    assert (polecat["status"]["phase"], polecat["status"]["outcome"]) == ("Done", "no_changes")


@pytest.mark.usefixtures("pod_mode")
async def test_eviction_then_attempt_two_succeeds(
    sandbox: Sandbox,
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    core: client.CoreV1Api,
    kube: ClusterKube,
) -> None:
    rig = rig_factory(agentConfig=demo("sleep:3"))
    handle = await start(
        temporal_client,
        worker,
        kube,
        namespace,
        "glory",
        {"rig": rig, "beadID": "dm-1", "retryPolicy": NO_BACKOFF},
    )
    await wait_until(lambda: pod_running(core, namespace, "polecat-glory-1"), 30, "running")
    assert sandbox.kubelet is not None
    await asyncio.to_thread(sandbox.run, sandbox.kubelet.evict(namespace, "polecat-glory-1"))
    result = await asyncio.wait_for(handle.result(), 60)
    assert (result.phase.value, result.attempts, result.pod) == ("Done", 2, "polecat-glory-2")


@pytest.mark.usefixtures("pod_mode")
async def test_nuke_while_running(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
    temporal_client: Client,
) -> None:
    rig = rig_factory(agentConfig=demo("sleep:120"))
    result = await gt("sling", "dm-1", rig, "--name", "prime", "--agent", "command", "--wait-ready")
    assert result.code == 0, result.err
    nuked = await gt("polecat", "nuke", f"{rig}/prime", "--reason", "changed my mind")
    assert nuked.code == 0, nuked.err
    assert "Polecat prime terminated" in nuked.out
    polecat = await kube.get_polecat(namespace, "prime")
    assert polecat["status"]["phase"] == "Terminated"
    assert polecat["status"]["message"] == "changed my mind"

    async def pod_gone() -> bool:
        pods = await asyncio.to_thread(
            core.list_namespaced_pod, namespace, label_selector=f"{LABEL_POLECAT}=prime"
        )
        return not pods.items

    await wait_until(pod_gone, 30, "the pod to be deleted")
    handle = temporal_client.get_workflow_handle(
        polecat_workflow_id(namespace, "prime"), result_type=PolecatResult
    )
    assert (await handle.result()).phase.value == "Terminated"
    again = await gt("polecat", "nuke", f"{rig}/prime")
    assert again.code == 1
    assert "no running workflow" in again.err


async def test_worker_killed_mid_run_adopts_the_same_pod(
    cluster: Cluster,
    temporal: TemporalDev,
    rig_factory: Callable[..., str],
    temporal_client: Client,
    namespace: str,
    core: client.CoreV1Api,
    pod_tools: Path,
    kube: ClusterKube,
) -> None:
    """SIGKILL the worker process while the pod runs; a new worker finishes the polecat with
    the same pod: exactly one pod, attempt 1."""
    queue = f"kill-{namespace}"
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "TEMPORAL_ADDRESS": temporal.address,
        "GASTOWN_TASK_QUEUE": queue,
    }
    argv = [
        str(Path(sys.executable).parent / "gastown-operator"),
        "worker",
        "--log-level",
        "WARNING",
    ]

    async def spawn() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*argv, env=env)

    rig = rig_factory(agentConfig=demo("sleep:8"))
    first = await spawn()
    try:
        handle = await apply_and_start(
            temporal_client, kube, queue, namespace, "angharad", {"rig": rig, "beadID": "dm-1"}
        )
        await wait_until(lambda: pod_running(core, namespace, "polecat-angharad-1"), 30, "running")
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    second = await spawn()
    try:
        result = await asyncio.wait_for(handle.result(), 90)
    finally:
        second.terminate()
        await second.wait()
    assert (result.phase.value, result.attempts, result.pod) == ("Done", 1, "polecat-angharad-1")
    pods = core.list_namespaced_pod(namespace, label_selector=f"{LABEL_POLECAT}=angharad")
    assert [p.metadata.name for p in pods.items] == ["polecat-angharad-1"]


async def test_terminal_failure_before_start_fails_the_workflow(
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    kube: ClusterKube,
) -> None:
    handle = await start(
        temporal_client, worker, kube, namespace, "nux", {"rig": "no-such-rig", "beadID": "dm-1"}
    )
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert "RigNotFound" in str(err.value.cause)
    # Nothing but the CR the user created, and the reason where the user looks.
    polecat = await kube.get_polecat(namespace, "nux")
    assert polecat["status"]["phase"] == "Failed"
    assert "rig 'no-such-rig' not found" in polecat["status"]["message"]
    assert await kube.pods(namespace, f"{LABEL_POLECAT}=nux") == []


@pytest.mark.parametrize(
    "worker", [dataclasses.replace(TEST_DEFAULTS, namespaces=("elsewhere",))], indirect=True
)
async def test_a_polecat_outside_the_served_namespaces_is_refused(
    temporal_client: Client,
    worker: Worker,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
) -> None:
    """The worker serves only its namespaces: elsewhere it acts on nothing but the refusal."""
    rig = rig_factory()
    handle = await start(
        temporal_client, worker, kube, namespace, "cheedo", {"rig": rig, "beadID": "dm-1"}
    )
    with pytest.raises(WorkflowFailureError) as err:
        await asyncio.wait_for(handle.result(), 60)
    assert "NamespaceNotServed" in str(err.value.cause)
    status = (await kube.get_polecat(namespace, "cheedo"))["status"]
    assert status["phase"] == "Failed"
    assert f"serves namespace(s) elsewhere, not '{namespace}'" in status["message"]
    assert await kube.pods(namespace, f"{LABEL_POLECAT}=cheedo") == []
    labels = (await kube.get_polecat(namespace, "cheedo"))["metadata"].get("labels") or {}
    assert ids.LABEL_MANAGED_BY not in labels  # not even claimed


async def test_a_workflow_for_a_replaced_polecat_acts_on_nothing(
    temporal_client: Client,
    worker: Worker,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
) -> None:
    """The input pins the CR by UID: a workflow started for a polecat that was deleted and
    created again under the same name (or for a UID someone made up) does nothing."""
    from gastown.operator.workflow import Workflows

    rig = rig_factory()
    body = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": "capable"},
        "spec": {"rig": rig, "beadID": "dm-1", "desiredState": "Working", "agent": "command"},
    }
    await kube.create_polecat(namespace, body)
    started = await Workflows(temporal_client, worker.task_queue).start(
        namespace, "capable", "00000000-0000-0000-0000-000000000000", datetime.now(UTC)
    )
    handle = temporal_client.get_workflow_handle(
        polecat_workflow_id(namespace, "capable"), run_id=started
    )
    with pytest.raises(WorkflowFailureError) as err:
        await asyncio.wait_for(handle.result(), 60)
    assert "PolecatGone" in str(err.value.cause)
    polecat = await kube.get_polecat(namespace, "capable")
    assert "status" not in polecat or not polecat["status"].get("phase")
    assert ids.ANNOTATION_WORKFLOW_ID not in (polecat["metadata"].get("annotations") or {})
