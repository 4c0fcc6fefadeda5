"""`kubectl gt sling` end to end: CR, pod, runtime, push, status, workflow record."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from gastown.api.identity import polecat_workflow_id
from gastown.workflows import contract as c
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import ClusterKube, Result, wait_until
from tests.operator.conftest import ThreadedWatcher
from tests.replay.test_replay import REPLAY_HISTORY


def branch_head(origin: Path, branch: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", str(origin), "rev-parse", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


async def diagnose(gt: Callable[..., Awaitable[Result]], rig: str, name: str) -> str:
    """Everything a failing e2e test should show: status and every container's logs."""
    parts = [(await gt("polecat", "status", f"{rig}/{name}")).out]
    for container in ("git-init", "claude", "publish"):
        logs = await gt("polecat", "logs", f"{rig}/{name}", "-c", container)
        parts.append(f"--- {container}:\n{logs.out}{logs.err}")
    return "\n".join(parts)


async def test_sling_happy_path(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    origin: Path,
    kube: ClusterKube,
    temporal_client: Client,
    kubectl: Callable[..., Any],
) -> None:
    rig = rig_factory()
    result = await gt(
        "sling",
        "dm-0001",
        rig,
        "--name",
        "furiosa",
        "--agent",
        "command",
        "--wait",
        "--timeout",
        "120",
    )
    assert result.code == 0, (result.err, await diagnose(gt, rig, "furiosa"))
    assert f"Polecat furiosa created for bead dm-0001 in rig {rig}" in result.out

    polecat = await kube.get_polecat(namespace, "furiosa")
    status = polecat["status"]
    assert status["phase"] == "Done"
    assert status["outcome"] == "completed"
    assert status["branch"] == "feature/dm-0001"
    assert status["commit"] == branch_head(origin, "feature/dm-0001")
    assert status["workflowID"] == polecat_workflow_id(namespace, "furiosa")
    assert status["podName"] == "polecat-furiosa-1"
    assert status["startedAt"] and status["finishedAt"]
    ready = next(cond for cond in status["conditions"] if cond["type"] == "Ready")
    assert ready["status"] == "True"

    handle = temporal_client.get_workflow_handle(polecat_workflow_id(namespace, "furiosa"))
    # `--wait` returns when the CR says Done; the workflow completes a moment later (it gives
    # its slot back and schedules the pod's deletion first).
    await asyncio.wait_for(handle.result(), 60)
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    memo = await desc.memo()
    assert memo["branch"] == "feature/dm-0001"
    assert memo["pod"] == "polecat-furiosa-1"
    attrs = desc.typed_search_attributes
    assert attrs.get(c.SA_RIG) == rig
    assert attrs.get(c.SA_BEAD) == "dm-0001"
    assert attrs.get(c.SA_POLECAT) == "furiosa"
    assert attrs.get(c.SA_PHASE) == "Done"

    # The Event and the printer columns, through the real kubectl.
    events = kubectl("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}")
    assert "Completed" in events.stdout
    table = kubectl("get", "polecats", "-n", namespace)
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "RIG", "PHASE", "BEAD", "POD", "AGE"]
    assert row.split()[:5] == ["furiosa", rig, "Done", "dm-0001", "polecat-furiosa-1"]
    logs = await gt("polecat", "logs", f"{rig}/furiosa")
    assert "gastown-demo" in logs.out


# Reported in docs/benchmarks.md; a jump means a polling loop crept in. 40 or 44 events are
# measured (whether the pod's start lands in a workflow task of its own), the rig slot's
# request, answer and release included.
HISTORY_BOUND = 48


@pytest.mark.parametrize("watcher_up", [False, True], ids=["worker-only", "watcher-up"])
async def test_history_stays_small(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    temporal_client: Client,
    cluster: Cluster,
    temporal: TemporalDev,
    worker: Worker,
    watcher_up: bool,
) -> None:
    """The same bound with the watcher mirroring the pod: it no longer signals the workflow,
    so each pod change reaches history once (from the wait activity)."""
    # Made only when used: a watcher made and never started would leave its event loop open.
    threaded = (
        ThreadedWatcher(str(cluster.kubeconfig), temporal, worker.task_queue)
        if watcher_up
        else None
    )
    if threaded is not None:
        threaded.start()
    try:
        rig = rig_factory()
        result = await gt("sling", "dm-0002", rig, "--name", "nux", "--agent", "command", "--wait")
        assert result.code == 0, result.err
        if watcher_up:

            async def mirrored() -> bool:
                obj = await kube.get_polecat(namespace, "nux")
                pod = (obj.get("status") or {}).get("pod") or {}
                return bool(pod.get("phase") == "Succeeded")

            await wait_until(mirrored, 30, "the watcher to mirror the finished pod")
    finally:
        if threaded is not None:
            threaded.close()
    handle = temporal_client.get_workflow_handle(polecat_workflow_id(namespace, "nux"))
    events = [e async for e in handle.fetch_history_events()]
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events)
    assert len(events) <= HISTORY_BOUND, kinds
    observed = [
        json.loads(e.workflow_execution_signaled_event_attributes.input.payloads[0].data)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == c.SIGNAL_POD_OBSERVED
    ]
    changes = [(o["attempt"], o["phase"], o.get("reason")) for o in observed]
    assert len(changes) == len(set(changes)), f"a pod change was signalled twice: {changes}"
    if os.environ.get("GASTOWN_RECORD_HISTORY") == "1" and not watcher_up:
        # Refresh the committed history the replay test checks every change against.
        history = await handle.fetch_history()
        REPLAY_HISTORY.write_text(history.to_json())


async def test_core_v1_pod_is_owned_and_labelled(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
) -> None:
    rig = rig_factory()
    assert (
        await gt("sling", "dm-0003", rig, "--name", "toast", "--agent", "command", "--wait")
    ).code == 0
    pod = core.read_namespaced_pod("polecat-toast-1", namespace)
    assert pod.metadata.owner_references[0].kind == "Polecat"
    assert pod.metadata.labels["gastown.gastown.io/attempt"] == "1"
    assert pod.spec.security_context.run_as_non_root is True


async def test_sling_again_after_done_runs_a_fresh_pod(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
    temporal_client: Client,
) -> None:
    rig = rig_factory()
    first = await gt("sling", "dm-0004", rig, "--name", "jade", "--agent", "command", "--wait")
    assert first.code == 0, first.err
    old = core.read_namespaced_pod("polecat-jade-1", namespace).metadata.uid
    again = await gt("sling", "dm-0004", rig, "--name", "jade", "--agent", "command", "--wait")
    assert again.code == 0, again.err
    new = core.read_namespaced_pod("polecat-jade-1", namespace)
    assert new.metadata.uid != old
    assert new.status.phase == "Succeeded"
    runs = [
        w
        async for w in temporal_client.list_workflows(
            f"WorkflowId = '{polecat_workflow_id(namespace, 'jade')}'"
        )
    ]
    assert len(runs) == 2
