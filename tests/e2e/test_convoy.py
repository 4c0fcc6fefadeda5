"""Convoys end to end: the sandbox cluster, the Temporal dev server, our worker, real pods
running the demo agent, real git. The acceptance of the convoy issue: a sliding window seen
in the pods' own timestamps, mixed outcomes, retries, a cost cap, and a convoy that survives
its worker killed twice and its Temporal server restarted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from gastown.api.group import API_VERSION
from gastown.api.identity import (
    ANNOTATION_DELETE_AFTER,
    LABEL_CONVOY,
    LABEL_POLECAT,
    convoy_workflow_id,
    polecat_workflow_id,
)
from gastown.kube import CONVOYS, EVENTS, PODS, reading, writing
from gastown.sandbox.temporal_dev import free_port, start_dev_argv, wait_for_frontend
from gastown.workflows import contract as c
from gastown.workflows.messages import ConvoyInput, ConvoyProgress
from tests.conftest import Cluster
from tests.e2e.conftest import DEMO_AGENT, ClusterKube, wait_until
from tests.webhook import https_webhook


def demo(**env: str) -> dict[str, Any]:
    """The rig's agent: the demo agent with these DEMO_AGENT_* settings."""
    return {
        "command": DEMO_AGENT,
        "env": [{"name": f"DEMO_AGENT_{k.upper()}", "value": v} for k, v in env.items()],
    }


def beads(n: int) -> list[str]:
    return [f"dm-{i}" for i in range(1, n + 1)]


async def start_convoy(
    client: Client, kube: ClusterKube, queue: str, namespace: str, name: str, spec: dict[str, Any]
) -> WorkflowHandle[Any, ConvoyProgress]:
    """A convoy the way `kubectl apply` plus the watcher make one: the CR, then its workflow
    with the convoy's identity."""
    body = {
        "apiVersion": API_VERSION,
        "kind": "Convoy",
        "metadata": {"name": name},
        "spec": {"agent": "command", **spec},  # the rig's demo agent
    }
    created = await kube.run(writing.create(CONVOYS, body, namespace))
    inp = ConvoyInput(namespace=namespace, name=name, uid=created["metadata"]["uid"])
    return await client.start_workflow(
        c.CONVOY_WORKFLOW,
        inp,
        id=convoy_workflow_id(namespace, name),
        task_queue=queue,
        result_type=ConvoyProgress,
    )


async def run_convoy(
    client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    timeout: float = 300,
) -> ConvoyProgress:
    handle = await start_convoy(client, kube, worker.task_queue, namespace, name, spec)
    return await asyncio.wait_for(handle.result(), timeout)


async def convoy_pods(kube: ClusterKube, namespace: str, convoy: str) -> list[dict[str, Any]]:
    return await kube.pods(namespace, f"{LABEL_CONVOY}={convoy}")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def most_at_once(pods: list[dict[str, Any]]) -> int:
    """The most pods alive at one moment, from their own timestamps: from startTime to the
    agent container's finishedAt. Kubernetes' timestamps have whole seconds, so an interval is
    half-open: a pod started in the second another finished did not overlap it (the convoy
    starts the next polecat only after the previous one's pod has finished)."""
    edges: list[tuple[datetime, int]] = []
    for pod in pods:
        status = pod["status"]
        finished = max(
            _time(cs["state"]["terminated"]["finishedAt"])
            for cs in status["containerStatuses"]
            if "terminated" in cs["state"]
        )
        edges += [(_time(status["startTime"]), 1), (finished, -1)]
    alive = peak = 0
    for _, step in sorted(edges):  # at a tie, -1 sorts before +1: half-open intervals
        alive += step
        peak = max(peak, alive)
    return peak


async def test_fifty_beads_five_at_a_time(
    temporal_client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
) -> None:
    rig = rig_factory(agentConfig=demo(mode="sleep:1"))
    spec = {"description": "Wave 1", "trackedBeads": beads(50), "rigRef": rig, "parallelism": 5}
    progress = await run_convoy(temporal_client, worker, kube, namespace, "wave-1", spec, 600)
    assert (progress.phase.value, progress.counts.done, progress.counts.total) == (
        "Complete",
        50,
        50,
    )
    pods = await convoy_pods(kube, namespace, "wave-1")
    assert len(pods) == 50  # one pod per bead: nothing doubled
    assert all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert most_at_once(pods) <= 5
    assert most_at_once(pods) >= 2  # the window did open: the beads did not run one by one
    cr = await kube.run(reading.get(CONVOYS, "wave-1", namespace))
    assert (cr["status"]["phase"], cr["status"]["progress"]) == ("Complete", "50/50")


async def test_a_convoys_polecats_are_its_own_and_found_by_its_search_attribute(
    temporal_client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the convoy leaves where people look: its Polecats labelled and owned by it, their
    pods with a delete-after time, one Event, its status, its polecats found in Temporal by
    the convoy's search attribute, and one POST of its summary to notifyOnComplete, whose
    credentials appear nowhere else."""
    rig = rig_factory()
    with https_webhook(workdir / "tls", monkeypatch) as hook:
        url = hook.base.replace("https://", "https://bot:hunter2@") + "/hook/S3CR3T?token=t0k3n"
        spec = {
            "description": "Wave 1",
            "trackedBeads": beads(3),
            "rigRef": rig,
            "parallelism": 2,
            "notifyOnComplete": url,
        }
        progress = await run_convoy(temporal_client, worker, kube, namespace, "wave", spec, 180)
    [(path, summary, auth)] = hook.posts
    assert path == "/hook/S3CR3T?token=t0k3n"
    assert auth == "Basic " + base64.b64encode(b"bot:hunter2").decode()  # userinfo as Basic auth
    assert (summary["convoy"], summary["phase"], summary["counts"]["done"]) == (
        "wave",
        "Complete",
        3,
    )
    assert (progress.phase.value, progress.counts.done) == ("Complete", 3)
    assert all(b.phase.value == "Done" and b.branch for b in progress.beads)
    cr = await kube.run(reading.get(CONVOYS, "wave", namespace))
    uid, status = cr["metadata"]["uid"], cr["status"]
    assert (status["phase"], status["progress"]) == ("Complete", "3/3")
    assert status["completedBeads"] == beads(3) and "completedAt" in status
    for bead in beads(3):
        polecat = await kube.get_polecat(namespace, f"wave-{bead}")
        meta = polecat["metadata"]
        assert meta["labels"][LABEL_CONVOY] == "wave"
        assert [o["uid"] for o in meta["ownerReferences"]] == [uid]
        assert polecat["status"]["phase"] == "Done"
        [pod] = await kube.pods(namespace, f"{LABEL_POLECAT}=wave-{bead}")
        assert ANNOTATION_DELETE_AFTER in pod["metadata"]["annotations"]
    events = [e for e in await kube.run(reading.items(EVENTS, namespace))
              if e["involvedObject"]["uid"] == uid]  # fmt: skip
    assert sorted((e["reason"], e["type"]) for e in events) == [
        ("AllBeadsDone", "Normal"),
        ("ConvoyFinished", "Normal"),  # notifyOnComplete: the Event, beside the POST
    ]
    found = [
        w.id
        async for w in temporal_client.list_workflows(
            f"GastownConvoy = 'wave' AND WorkflowType = '{c.POLECAT_WORKFLOW}' "
            f"AND TaskQueue = '{worker.task_queue}'"
        )
    ]
    assert sorted(found) == [polecat_workflow_id(namespace, f"wave-{b}") for b in beads(3)]
    # The URL's credentials: in the spec only, never in history, status or Events.
    seen = [json.dumps(cr["status"]), *(e["message"] for e in events)]
    for wid in [convoy_workflow_id(namespace, "wave"), *found]:
        history = await temporal_client.get_workflow_handle(wid).fetch_history()
        seen.append(history.to_json())
    for secret in ("hunter2", "S3CR3T", "t0k3n"):
        assert not [text for text in seen if secret in text], secret


async def test_mixed_outcomes_are_partially_failed_with_each_beads_state(
    temporal_client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
) -> None:
    rig = rig_factory(agentConfig=demo(fail_beads="dm-2,dm-4", cost="0.25"))
    spec = {"description": "Mixed", "trackedBeads": beads(5), "rigRef": rig, "parallelism": 3}
    progress = await run_convoy(temporal_client, worker, kube, namespace, "mixed", spec, 300)
    assert progress.phase.value == "PartiallyFailed"
    state = {
        b.bead_id: (b.phase.value, b.outcome.value if b.outcome else None) for b in progress.beads
    }
    assert state == {
        "dm-1": ("Done", "completed"),
        "dm-2": ("Failed", "agent_failed"),
        "dm-3": ("Done", "completed"),
        "dm-4": ("Failed", "agent_failed"),
        "dm-5": ("Done", "completed"),
    }
    assert progress.cost_usd == pytest.approx(1.25)
    cr = await kube.run(reading.get(CONVOYS, "mixed", namespace))
    assert cr["status"]["phase"] == "PartiallyFailed"
    assert {b["beadID"]: b["phase"] for b in cr["status"]["beads"]}["dm-4"] == "Failed"


async def test_retry_policy_gives_a_failed_bead_new_polecats(
    temporal_client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
) -> None:
    rig = rig_factory(agentConfig=demo(fail_first_beads="dm-1", fail_beads="dm-2"))
    spec = {
        "description": "Retry",
        "trackedBeads": beads(3),
        "rigRef": rig,
        "failurePolicy": "Retry",
        "maxRetries": 2,
    }
    progress = await run_convoy(temporal_client, worker, kube, namespace, "rt", spec)
    got = {b.bead_id: (b.phase.value, b.attempts, b.polecat) for b in progress.beads}
    assert got == {
        "dm-1": ("Done", 2, "rt-dm-1-r1"),  # failed once, the retry succeeded
        "dm-2": ("Failed", 3, "rt-dm-2-r2"),  # failed every time: 1 + maxRetries polecats
        "dm-3": ("Done", 1, "rt-dm-3"),
    }
    assert progress.phase.value == "PartiallyFailed"
    pods = sorted(p["metadata"]["name"] for p in await convoy_pods(kube, namespace, "rt"))
    assert pods == [
        "polecat-rt-dm-1-1",
        "polecat-rt-dm-1-r1-1",
        "polecat-rt-dm-2-1",
        "polecat-rt-dm-2-r1-1",
        "polecat-rt-dm-2-r2-1",
        "polecat-rt-dm-3-1",
    ]


async def test_cost_cap_stops_dispatch_and_says_so(
    temporal_client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
) -> None:
    rig = rig_factory(agentConfig=demo(cost="0.4"))
    spec = {
        "description": "Capped",
        "trackedBeads": beads(5),
        "rigRef": rig,
        "parallelism": 1,
        "maxCostUSD": 1.0,
    }
    progress = await run_convoy(temporal_client, worker, kube, namespace, "cap", spec)
    phases = [b.phase.value for b in progress.beads]
    # 0.4 + 0.4 + 0.4 passes 1.0 on the third bead: nothing after it is dispatched.
    assert phases == ["Done", "Done", "Done", "Skipped", "Skipped"]
    assert progress.reason == "MaxCostReached"
    assert progress.phase.value == "PartiallyFailed"
    assert progress.cost_usd == pytest.approx(1.2)
    assert len(await convoy_pods(kube, namespace, "cap")) == 3


# ------------------------------------------------------------------ crashes


class Server:
    """A Temporal dev server with its history in a SQLite file, so it can be restarted."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *start_dev_argv(self.port, None, self.db),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wait_for_frontend(self.address, "default", 60)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


@pytest.fixture
async def restartable_temporal(tmp_path: Path) -> AsyncIterator[Server]:
    server = Server(tmp_path / "temporal.db")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_worker_killed_twice_and_temporal_restarted(
    cluster: Cluster,
    restartable_temporal: Server,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
    pod_tools: Path,
) -> None:
    """Exactly one pod per bead attempt, however often the worker dies and the server
    restarts in the middle."""
    server = restartable_temporal
    queue = f"convoy-kill-{namespace}"
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "TEMPORAL_ADDRESS": server.address,
        "GASTOWN_TASK_QUEUE": queue,
    }
    argv = [str(Path(sys.executable).parent / "gastown-operator"), "worker", "--log-level", "ERROR"]

    async def spawn() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*argv, env=env)

    async def kill(proc: asyncio.subprocess.Process) -> None:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def pods_at_least(n: int) -> bool:
        return len(await convoy_pods(kube, namespace, "crash")) >= n

    rig = rig_factory(agentConfig=demo(mode="sleep:2"))
    client = await Client.connect(server.address, data_converter=pydantic_data_converter)
    spec = {"description": "Crash", "trackedBeads": beads(10), "rigRef": rig, "parallelism": 3}
    worker = await spawn()
    try:
        await start_convoy(client, kube, queue, namespace, "crash", spec)
        await wait_until(lambda: pods_at_least(2), 120, "the first pods")
        await kill(worker)  # 1: mid-window
        worker = await spawn()
        await wait_until(lambda: pods_at_least(5), 120, "more pods")
        await kill(worker)  # 2
        await server.stop()  # and the server, while nothing serves the convoy
        await server.start()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        worker = await spawn()
        handle = client.get_workflow_handle(
            convoy_workflow_id(namespace, "crash"), result_type=ConvoyProgress
        )
        progress = await asyncio.wait_for(handle.result(), 600)
    finally:
        if worker.returncode is None:
            worker.terminate()
            await worker.wait()
    assert (progress.phase.value, progress.counts.done) == ("Complete", 10)
    pods = await convoy_pods(kube, namespace, "crash")
    names = sorted(p["metadata"]["name"] for p in pods)
    assert names == sorted(f"polecat-crash-dm-{i}-1" for i in range(1, 11))
    assert len({p["metadata"]["uid"] for p in pods}) == 10
    listed = await kube.run(reading.items(PODS, namespace))
    assert len(listed) == 10  # and no pod outside the convoy's labels either
