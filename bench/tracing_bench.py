"""What tracing costs the dispatcher: sling latency and polecat throughput, traced vs not.

    .venv/bin/python bench/tracing_bench.py [--latency 20] [--concurrent 50] [--rounds 3]

One stack (the sandbox API server and the Temporal dev server, each its own process), then
rounds of both modes, each on a fresh worker and task queue, in ABBA order (off-on, on-off,
…: the stack slows a little as its stores fill), so both modes see the same machine at the
same time:

- off: the production worker as `gastown-operator worker` builds it without `OTEL_*` (no
  provider, no interceptor, no call spans), a client without interceptors;
- on: `OTEL_EXPORTER_OTLP_ENDPOINT` set, pointing at a local OTLP/HTTP sink that answers 200
  to every export: the worker's TracingInterceptor, its Kubernetes call spans, the pod's
  TRACEPARENT; and, as `kubectl gt sling` does, a root span per sling and the client's
  interceptor on the workflow start (a client of its own: the worker's client has none, as in
  production).

Measured as in sling_bench.py: latency from the Polecat's creation to its pod's ADDED event
(p50), throughput as N polecats started together and completed per second, and this
process's CPU per polecat. Pods use the sandbox's instant image, so the runtime's own spans
(one POST per container, when it ends) are not in these numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.api.group import API_VERSION
from gastown.api.identity import polecat_workflow_id
from gastown.kube import POLECATS, writing
from gastown.service.worker import WorkerOptions, build_worker, use_kube_threads
from gastown.telemetry.tracing import Tracing, from_env
from gastown.workflows import contract as c
from gastown.workflows.messages import PolecatInput, PolecatResult
from gastown.workflows.resolve import OperatorDefaults

sys.path.insert(0, str(Path(__file__).parent))
from sling_bench import RESULT, THREADS, PodClock
from stack import INSTANT, bench_client, make_rig, runtime, stack, worker_kube


class Sink:
    """An OTLP/HTTP endpoint that takes every export and counts the bytes."""

    def __init__(self) -> None:
        self.bytes = 0
        self.posts = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.bytes += len(body)
                sink.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextmanager
def maybe_span(tracing: Tracing, name: str) -> Iterator[None]:
    with tracing.span(name):
        yield


SAMPLER = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}


def mode_tracing(mode: str, sink: Sink) -> Tracing:
    """off; on (every trace); sampled (1 trace in 10 kept, as OTEL_TRACES_SAMPLER says)."""
    if mode == "off":
        return from_env("bench", {})
    saved = {k: os.environ.get(k) for k in SAMPLER}
    if mode == "sampled":
        os.environ.update(SAMPLER)  # the SDK reads the sampler from the process env
    try:
        return from_env("bench", {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url})
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def one_round(
    mode: str, args: argparse.Namespace, kubeconfig: str, address: str, sink: Sink
) -> dict[str, float]:
    tracing = mode_tracing(mode, sink)
    api = bench_client(kubeconfig, THREADS)
    ns = f"bench-{secrets.token_hex(3)}"
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
    )
    rigs = [f"{ns}-{k}" for k in range(max(1, -(-args.concurrent // 100)))]
    for name in rigs:
        make_rig(api, name, 100)
    # Two clients, as in production: the worker's own (no client interceptor: the worker's
    # interceptor would otherwise apply twice, a temporalio client interceptor being a worker
    # interceptor too) and the CLI's, whose interceptor carries the sling's span.
    temporal = await Client.connect(
        address, data_converter=pydantic_data_converter, runtime=runtime()
    )
    cli_temporal = await Client.connect(
        address,
        data_converter=pydantic_data_converter,
        runtime=runtime(),
        interceptors=tracing.interceptors(),
    )
    queue = f"bench-{ns}"
    options = WorkerOptions()
    use_kube_threads(options)
    kube = worker_kube(kubeconfig, options)
    worker = build_worker(
        temporal, queue, kube, OperatorDefaults(image=INSTANT), options, tracing=tracing
    )
    cli_kube = kube.traced(tracing.tracer("gastown.kube"))
    clock = PodClock(api, ns)
    n = 0

    async def polecat(name: str) -> None:
        """As `kubectl gt sling`: a root span, the Polecat's creation, the workflow start."""
        nonlocal n
        n += 1
        spec = {
            "rig": rigs[n % len(rigs)],
            "beadID": f"bn-{n}",
            "desiredState": "Working",
            "agent": "command",
            "agentConfig": {"command": ["true"]},
        }
        body = {"apiVersion": API_VERSION, "kind": "Polecat", "metadata": {"name": name}}
        with maybe_span(tracing, "kubectl gt sling"):
            created = await cli_kube.run(writing.create(POLECATS, {**body, "spec": spec}, ns))
            handle = await cli_temporal.start_workflow(
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
        await asyncio.gather(*(polecat(f"warm-{i}") for i in range(5)))
        latencies = []
        for i in range(args.latency):
            start = time.perf_counter()
            task = asyncio.create_task(polecat(f"lat-{i}"))
            seen = await asyncio.to_thread(clock.wait, f"polecat-lat-{i}-1")
            latencies.append(seen - start)
            await task
        clock.stop()
        out["latency_p50_ms"] = statistics.median(latencies) * 1000
        cpu, start = time.process_time(), time.perf_counter()
        await asyncio.gather(*(polecat(f"tp-{i}") for i in range(args.concurrent)))
        out["polecats_per_s"] = args.concurrent / (time.perf_counter() - start)
        out["cpu_ms_per_polecat"] = (time.process_time() - cpu) * 1000 / args.concurrent
    tracing.shutdown()
    return out


async def run(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    sink = Sink()
    modes = ["off", "on", "sampled"] if args.sampled else ["off", "on"]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    async with stack(RESULT) as (kubeconfig, address):
        for k in range(args.rounds):
            # The stack slows as it fills (its stores grow): each round starts with another
            # mode (ABBA for two), so none is favoured by going first.
            order = modes[k % len(modes) :] + modes[: k % len(modes)]
            if len(modes) == 2 and k % 2:
                order = modes[::-1]
            for mode in order:
                results[mode].append(await one_round(mode, args, kubeconfig, address, sink))
    polecats = args.rounds * len(modes) * (5 + args.latency + args.concurrent)
    print(f"spans exported: {sink.posts} POSTs, {sink.bytes / polecats:.0f} bytes per polecat")
    print(
        f"pod runtime: {runtime_export_ms(sink):.2f} ms (median) to record and send a run's spans"
    )
    return results


def runtime_export_ms(sink: Sink, times: int = 50) -> float:
    """What the pod's runtime adds to `gt-polecat run`: its five spans and the one POST."""
    from gastown.runtime import tracing as pod

    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        tracer = pod.from_env({"TRACEPARENT": parent, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url})
        with tracer.span("gt-polecat run"):
            for phase in ("agent", "commit", "push", "pull-request"):
                with tracer.span(phase):
                    pass
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=20, help="slings for the latency")
    parser.add_argument("--concurrent", type=int, default=50, help="polecats at once")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of every mode")
    parser.add_argument(
        "--sampled", action="store_true", help="a third mode: parentbased_traceidratio 0.1"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"rounds: {args.rounds}, latency slings: {args.latency}, concurrent: {args.concurrent}")
    for mode in [m for m in results if m != "off"]:
        print(f"\n{mode} against off:\n")
        print(f"| measure | off (median) | {mode} (median) | ratio | off runs | {mode} runs |")
        print("|---|---|---|---|---|---|")
        for key in results["off"][0]:
            off = [r[key] for r in results["off"]]
            on = [r[key] for r in results[mode]]
            m_off, m_on = statistics.median(off), statistics.median(on)
            print(
                f"| {key} | {m_off:.2f} | {m_on:.2f} | {m_on / m_off:.3f} | "
                f"{', '.join(f'{v:.2f}' for v in off)} | {', '.join(f'{v:.2f}' for v in on)} |"
            )


if __name__ == "__main__":
    main()
