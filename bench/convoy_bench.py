"""A large convoy against single slings: beads per second, and what its history costs.

    .venv/bin/python bench/convoy_bench.py [--beads 1000] [--parallelism 100] [--runs 3]

The same stack as sling_bench.py (sandbox API server and Temporal dev server as their own
processes, our production worker in this one, pods on an "instant" image the sandbox finishes
at once), measured twice in one run, with the same concurrency bound:

- singles: `--parallelism` polecats slung together (the CR, then the workflow with its
  identity, as `kubectl gt sling` does), three batches in a row; polecats per second.
- convoy: one Convoy of `--beads` beads with `spec.parallelism` = `--parallelism`, created
  and started as `kubectl gt convoy create` does; beads per second from the start to its
  result. The rig of each allows `--parallelism` polecats, so neither waits in a slot queue
  it does not need.

The ratio of the two is the figure that travels between machines (target ≥ 0.8). Beside it:
the convoy's runs (continue-as-new crossings + 1), the events and bytes of its largest run,
and the SDK's slow workflow task warnings (TMPRL1104) during the convoy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from pathlib import Path

from kubernetes import client
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.api.group import API_VERSION
from gastown.api.identity import convoy_workflow_id, polecat_workflow_id
from gastown.kube import CONVOYS, POLECATS, Kube, writing
from gastown.service.worker import WorkerOptions, build_worker, use_kube_threads
from gastown.workflows import contract as c
from gastown.workflows.messages import ConvoyInput, ConvoyProgress, PolecatInput, PolecatResult
from gastown.workflows.resolve import OperatorDefaults

sys.path.insert(0, str(Path(__file__).parent))
from stack import INSTANT, SLOW, bench_client, make_rig, runtime, stack, worker_kube

RESULT = json.dumps(
    {
        "outcome": "completed",
        "branch": "feature/x",
        "headCommit": "0" * 40,
        "pushed": True,
        "agentCostUSD": 0.01,
    }
)
BATCHES = 3


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with stack(RESULT) as (kubeconfig, address):
        return await measure(args, kubeconfig, address)


async def measure(args: argparse.Namespace, kubeconfig: str, address: str) -> dict[str, float]:
    api = bench_client(kubeconfig, 64)
    ns = f"bench-{secrets.token_hex(3)}"
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
    )
    singles_rig, convoy_rig = f"{ns}-singles", f"{ns}-convoy"
    for rig in (singles_rig, convoy_rig):
        make_rig(api, rig, args.parallelism)
    temporal = await Client.connect(
        address, data_converter=pydantic_data_converter, runtime=runtime()
    )
    options = WorkerOptions()
    use_kube_threads(options)
    kube = worker_kube(kubeconfig, options)
    worker = build_worker(temporal, "bench", kube, OperatorDefaults(image=INSTANT), options)
    out: dict[str, float] = {}
    async with worker:
        await singles(temporal, kube, ns, singles_rig, 5, "warm")  # connections, caches
        start = time.perf_counter()
        for batch in range(BATCHES):
            await singles(temporal, kube, ns, singles_rig, args.parallelism, f"s{batch}")
        out["singles_per_s"] = BATCHES * args.parallelism / (time.perf_counter() - start)

        slow_before = SLOW.count
        start = time.perf_counter()
        progress = await convoy(temporal, kube, ns, convoy_rig, args)
        wall = time.perf_counter() - start
        assert progress.phase.value == "Complete", progress.model_dump(exclude={"beads"})
        assert progress.counts.done == args.beads, progress.counts
        out["convoy_wall_s"] = wall
        out["convoy_beads_per_s"] = args.beads / wall
        out["ratio"] = out["convoy_beads_per_s"] / out["singles_per_s"]
        out["slow_workflow_tasks"] = SLOW.count - slow_before
        out.update(await history_costs(temporal, convoy_workflow_id(ns, "bench")))
    return out


async def singles(temporal: Client, kube: Kube, ns: str, rig: str, n: int, prefix: str) -> None:
    """What `kubectl gt sling` does, n at once: create the Polecat, start its workflow."""

    async def one(i: int) -> None:
        name = f"{prefix}-{i}"
        body = {
            "apiVersion": API_VERSION,
            "kind": "Polecat",
            "metadata": {"name": name},
            "spec": {
                "rig": rig,
                "beadID": f"bn-{prefix}{i}",
                "desiredState": "Working",
                "agent": "command",
                "agentConfig": {"command": ["true"]},
            },
        }
        created = await kube.run(writing.create(POLECATS, body, ns))
        handle = await temporal.start_workflow(
            c.POLECAT_WORKFLOW,
            PolecatInput(namespace=ns, name=name, uid=created["metadata"]["uid"]),
            id=polecat_workflow_id(ns, name),
            task_queue="bench",
            result_type=PolecatResult,
        )
        result = await handle.result()
        assert result.phase.value == "Done", result

    await asyncio.gather(*(one(i) for i in range(n)))


async def convoy(
    temporal: Client, kube: Kube, ns: str, rig: str, args: argparse.Namespace
) -> ConvoyProgress:
    """What `kubectl gt convoy create` does: create the Convoy, start its workflow."""
    body = {
        "apiVersion": API_VERSION,
        "kind": "Convoy",
        "metadata": {"name": "bench"},
        "spec": {
            "description": f"bench: {args.beads} beads",
            "trackedBeads": [f"bn-{i}" for i in range(args.beads)],
            "rigRef": rig,
            "parallelism": args.parallelism,
            "agent": "command",
        },
    }
    created = await kube.run(writing.create(CONVOYS, body, ns))
    handle = await temporal.start_workflow(
        c.CONVOY_WORKFLOW,
        ConvoyInput(namespace=ns, name="bench", uid=created["metadata"]["uid"]),
        id=convoy_workflow_id(ns, "bench"),
        task_queue="bench",
        result_type=ConvoyProgress,
    )
    return await handle.result()


async def history_costs(temporal: Client, workflow_id: str) -> dict[str, float]:
    """Runs of the convoy's workflow (continue-as-new crossings + 1), and the events and bytes
    of its largest run: what every replay of a run pays."""
    runs = [w async for w in temporal.list_workflows(f'WorkflowId = "{workflow_id}"')]
    events, sizes = [], []
    for run in runs:
        history = await temporal.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        events.append(len(history.events))
        sizes.append(sum(e.ByteSize() for e in history.events))
    return {
        "convoy_runs": len(runs),
        "max_events_per_run": max(events),
        "median_events_per_run": statistics.median(events),
        "max_kib_per_run": max(sizes) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beads", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=100, help="≤ 100 (a rig's limit)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [asyncio.run(run(args)) for _ in range(args.runs)]
    print(f"runs: {args.runs}, beads: {args.beads}, parallelism: {args.parallelism}")
    print("| measure | median | runs |\n|---|---|---|")
    for key in runs[0]:
        values = [r[key] for r in runs]
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {key} | {statistics.median(values):.2f} | {shown} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
