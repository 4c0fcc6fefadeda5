"""What the watcher's metrics cost per event: the fleet gauges (operator/fleet.py) and a work
queue's depth and lag (operator/queue.py) with the SDK's real Prometheus meter, against the
same code with the no-op meter, in the same run.

    .venv/bin/python bench/metrics_bench.py [--events 20000] [--repeats 7]

The Kubernetes boundary adds nothing to a successful call (its hook runs on failures only),
so there is nothing to measure there.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from gastown.operator.fleet import Fleet
from gastown.operator.queue import QueueMetrics, WorkQueue
from gastown.sandbox.temporal_dev import free_port

PHASES = ("Pending", "Queued", "Working", "Done")


def events(n: int) -> list[dict[str, Any]]:
    """n polecat events: 500 polecats of 5 rigs walking through their phases."""
    out = []
    for i in range(n):
        phase = PHASES[(i // 500) % len(PHASES)]
        status: dict[str, Any] = {"phase": phase}
        if phase == "Queued":
            status["conditions"] = [{"type": "Ready", "reason": "RigFull"}]
        out.append({"metadata": {"namespace": "ns", "name": f"p{i % 500}"},
                    "spec": {"rig": f"rig-{i % 5}"}, "status": status})  # fmt: skip
    return out


def fleet_seconds(meter: MetricMeter, bodies: list[dict[str, Any]]) -> float:
    fleet = Fleet(meter)
    start = time.perf_counter()
    for body in bodies:
        fleet.on_polecat("MODIFIED", body)
    return time.perf_counter() - start


async def queue_seconds(meter: MetricMeter | None, n: int) -> float:
    async def handle(_: int, __: Any) -> None:
        return None

    queue: WorkQueue[int] = WorkQueue("bench", handle)
    if meter is not None:
        queue.metrics = QueueMetrics.of(meter)
    start = time.perf_counter()
    for i in range(n):
        queue.put(i % 500, i)
        if i % 500 == 499:
            await queue.idle()
    await queue.idle()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(f"127.0.0.1:{free_port()}"))
    )
    bodies = events(args.events)
    rows = []
    for what, run in (
        ("fleet: no-op meter", lambda: fleet_seconds(MetricMeter.noop, bodies)),
        ("fleet: Prometheus meter", lambda: fleet_seconds(runtime.metric_meter, bodies)),
        ("queue: no metrics", lambda: asyncio.run(queue_seconds(None, args.events))),
        (
            "queue: Prometheus meter",
            lambda: asyncio.run(queue_seconds(runtime.metric_meter, args.events)),
        ),
    ):
        times = [run() for _ in range(args.repeats)]
        rows.append((what, statistics.median(times) / args.events * 1e6))
    print(f"{'':28} µs/event (median of {args.repeats} runs of {args.events} events)")
    for what, us in rows:
        print(f"{what:28} {us:8.2f}")
    print(f"fleet ratio {rows[1][1] / rows[0][1]:.2f}, queue ratio {rows[3][1] / rows[2][1]:.2f}")


if __name__ == "__main__":
    main()
