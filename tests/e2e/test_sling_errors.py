"""Slings refused by what the cluster says: a clear line, exit 1, and nothing created."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client
from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api.identity import ANNOTATION_DELETE_AFTER, LABEL_POLECAT, polecat_workflow_id
from gastown.kube import timestamps
from tests.conftest import KUBECTL, Cluster
from tests.e2e.conftest import DEMO_AGENT, ClusterKube, Result, wait_until


def sleeping() -> dict[str, Any]:
    return {"command": DEMO_AGENT, "env": [{"name": "DEMO_AGENT_MODE", "value": "sleep:60"}]}


async def nothing_created(
    kube: ClusterKube, temporal_client: Client, namespace: str, name: str
) -> None:
    assert [p["metadata"]["name"] for p in await kube.list_polecats(namespace)].count(name) == 0
    query = f"WorkflowId = '{polecat_workflow_id(namespace, name)}'"
    assert [w async for w in temporal_client.list_workflows(query)] == []


async def test_unknown_rig(
    gt: Callable[..., Awaitable[Result]], namespace: str, kube: ClusterKube, temporal_client: Client
) -> None:
    result = await gt("sling", "dm-1", "no-such-rig", "--name", "ace")
    assert result.code == 1
    assert "rig 'no-such-rig' not found" in result.err
    assert "kubectl gt rig create no-such-rig" in result.err
    await nothing_created(kube, temporal_client, namespace, "ace")


async def no_pods(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    pods = await asyncio.to_thread(
        core.list_namespaced_pod, namespace, label_selector=f"{LABEL_POLECAT}={name}"
    )
    return not pods.items


async def phase(kube: ClusterKube, namespace: str, name: str) -> str | None:
    return ((await kube.get_polecat(namespace, name)).get("status") or {}).get("phase")


async def test_bead_already_worked_is_refused_by_the_worker(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
) -> None:
    rig = rig_factory(agentConfig=sleeping())
    first = await gt("sling", "dm-1", rig, "--name", "nux", "--agent", "command", "--wait-ready")
    assert first.code == 0, first.err

    again = await gt("sling", "dm-1", rig, "--name", "toast", "--agent", "command", "--wait")
    assert again.code == 1
    assert f"bead dm-1 is already being worked on by polecat {namespace}/nux" in again.err
    assert "--force" in again.err
    toast = await kube.get_polecat(namespace, "toast")
    assert toast["status"]["phase"] == "Failed"
    assert await no_pods(core, namespace, "toast")

    same = await gt("sling", "dm-1", rig, "--name", "nux", "--agent", "command")
    assert same.code == 0
    assert "already working on bead dm-1" in same.out

    forced = await gt(
        "sling", "dm-1", rig, "--name", "slit", "--agent", "command", "--force", "--wait-ready"
    )
    assert forced.code == 0, forced.err
    for name in ("nux", "slit"):
        assert (await gt("polecat", "nuke", f"{rig}/{name}")).code == 0


async def test_over_the_rig_limit_polecats_queue_and_start_when_a_slot_frees(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    kubectl: Callable[..., Any],
    namespace: str,
    kube: ClusterKube,
    core: client.CoreV1Api,
) -> None:
    """Three slings at once for a rig with one slot: one works, two wait as Queued (no pod),
    and each starts as the one before it is nuked. No sling is refused, none is lost."""
    rig = rig_factory(agentConfig=sleeping())
    patch = '{"spec": {"settings": {"maxPolecats": 1}}}'
    assert kubectl("patch", "rig", rig, "--type=merge", "-p", patch).returncode == 0
    names = ["ace", "dag", "keeper"]
    results = await asyncio.gather(
        *(
            gt("sling", f"dm-{i}", rig, "--name", n, "--agent", "command")
            for i, n in enumerate(names, start=1)
        )
    )
    assert [r.code for r in results] == [0, 0, 0], [r.err for r in results]

    async def phases() -> list[str | None]:
        return [await phase(kube, namespace, n) for n in names]

    async def one_working() -> bool:
        current = await phases()
        return sorted(map(str, current)) == ["Queued", "Queued", "Working"]

    await wait_until(one_working, 60, "one polecat working and two queued")
    for _ in names:
        current = await phases()
        working = names[current.index("Working")]
        queued = [n for n, p in zip(names, current, strict=True) if p == "Queued"]
        for name in queued:
            assert await no_pods(core, namespace, name)
            status = (await kube.get_polecat(namespace, name))["status"]
            assert f"rig {rig} is at its limit of 1 active polecats" in status["message"]
        assert (await gt("polecat", "nuke", f"{rig}/{working}")).code == 0
        if not queued:
            break

        async def next_started(queued: list[str] = queued) -> bool:
            now = [await phase(kube, namespace, n) for n in queued]
            return now.count("Working") == 1 and now.count("Queued") == len(queued) - 1

        await wait_until(next_started, 60, "the next queued polecat to start")
    assert [await phase(kube, namespace, n) for n in names] == ["Terminated"] * 3


async def test_temporal_unreachable_names_the_address(
    cluster: Cluster, rig_factory: Callable[..., str], namespace: str, kube: ClusterKube
) -> None:
    rig = rig_factory()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(cluster.kubeconfig),
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
    }
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "gt",
        "sling",
        "dm-1",
        rig,
        "--name",
        "ace",
        "--agent",
        "command",
        "-n",
        namespace,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert "cannot reach Temporal at 127.0.0.1:9" in err.decode()
    assert "--temporal-address or TEMPORAL_ADDRESS" in err.decode()
    assert "Traceback" not in err.decode()
    assert await kube.list_polecats(namespace) == []


async def test_no_cluster(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(tmp_path / "missing"),
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "gt",
        "polecat",
        "list",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert "no cluster configured" in err.decode()
    assert "kubectl gt dev up" in err.decode()


async def test_succeeded_pod_is_marked_for_deletion_after_its_ttl(
    rig_factory: Callable[..., str],
    temporal_client: Client,
    worker: Worker,
    namespace: str,
    core: client.CoreV1Api,
    kube: ClusterKube,
) -> None:
    """The workflow leaves the pod with when it may go (the watcher deletes it then): with
    ttlSecondsAfterFinished 0, at once."""
    from tests.e2e.test_failures import start

    rig = rig_factory()
    spec = {"rig": rig, "beadID": "dm-1", "ttlSecondsAfterFinished": 0}
    handle = await start(temporal_client, worker, kube, namespace, "opal", spec)
    assert (await asyncio.wait_for(handle.result(), 60)).phase.value == "Done"
    finished = datetime.now(UTC)

    pods = await asyncio.to_thread(
        core.list_namespaced_pod, namespace, label_selector=f"{LABEL_POLECAT}=opal"
    )
    [pod] = pods.items
    when = timestamps.parse(pod.metadata.annotations[ANNOTATION_DELETE_AFTER])
    assert pod.metadata.creation_timestamp - timedelta(seconds=1) <= when <= finished
