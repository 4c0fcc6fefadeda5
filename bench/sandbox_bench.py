"""Sandbox cluster throughput and watch latency, through the official `kubernetes` client.

    .venv/bin/python bench/sandbox_bench.py [--creates 2000] [--clients 4] [--rate 200] [--runs 3]

The sandbox runs as its own process (`python -m gastown.sandbox serve`, as `dev up` runs it),
reached over HTTPS on loopback. Each run measures:
- creates/s: `--creates` small ConfigMaps created by `--clients` threads, each with its own
  ApiClient, as fast as they go (a watch is open meanwhile, as a controller's would be);
- watch delivery latency: `--creates` more ConfigMaps created by one client paced at `--rate`
  per second; latency is from just before `create` is called to the event's arrival in an
  official-client `watch.Watch` in this process; p50/p99.
Prints one JSON line per run and the medians; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_once(kubeconfig: Path, creates: int, clients: int, rate: float, run: int) -> dict[str, Any]:
    burst = phase(kubeconfig, creates, clients, None, f"burst-{run}")
    paced = phase(kubeconfig, creates, 1, rate, f"paced-{run}")
    return {
        "run": run,
        "creates": creates,
        "clients": clients,
        "creates_per_s": burst["creates_per_s"],
        "burst_watch_p99_ms": burst["watch_p99_ms"],
        "paced_rate": rate,
        "watch_p50_ms": paced["watch_p50_ms"],
        "watch_p99_ms": paced["watch_p99_ms"],
    }


def phase(
    kubeconfig: Path, creates: int, clients: int, rate: float | None, namespace: str
) -> dict[str, Any]:
    api = config.new_client_from_config(str(kubeconfig))
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    watching = threading.Event()
    done = threading.Event()

    def watcher() -> None:
        w = watch.Watch()
        stream = w.stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=rv,
            timeout_seconds=120,
            _preload_content=False,
        )
        watching.set()
        for event in stream:
            name = event["raw_object"]["metadata"]["name"]
            received[name] = time.perf_counter()
            if len(received) >= creates:
                w.stop()
        done.set()

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    watching.wait(10)

    def creator(index: int) -> None:
        mine = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
        start = time.perf_counter()
        for n, i in enumerate(range(index, creates, clients)):
            if rate is not None:
                pause = start + n / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)  # pacing the load generator, not synchronisation
            name = f"cm-{i}"
            sent[name] = time.perf_counter()
            mine.create_namespaced_config_map(
                namespace, {"metadata": {"name": name}, "data": {"k": "v"}}
            )

    began = time.perf_counter()
    workers = [threading.Thread(target=creator, args=(i,)) for i in range(clients)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - began
    done.wait(60)
    latencies = [(received[n] - sent[n]) * 1000 for n in sent if n in received]
    core.delete_namespace(namespace)
    assert len(latencies) == creates, f"watch saw {len(latencies)} of {creates} creates"
    return {
        "creates_per_s": round(creates / elapsed, 1),
        "watch_p50_ms": round(percentile(latencies, 0.50), 2),
        "watch_p99_ms": round(percentile(latencies, 0.99), 2),
    }


def start_server(state: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown.sandbox", "serve", "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (state / "ready.json").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("sandbox did not start")
        time.sleep(0.05)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        server = start_server(state)
        try:
            results = [
                run_once(state / "kubeconfig", args.creates, args.clients, args.rate, r)
                for r in range(args.runs)
            ]
        finally:
            server.terminate()
            server.wait()
    for r in results:
        print(json.dumps(r))
    summary = {
        key: statistics.median(r[key] for r in results)
        for key in ("creates_per_s", "burst_watch_p99_ms", "watch_p50_ms", "watch_p99_ms")
    }
    print(json.dumps({"median": summary}))


if __name__ == "__main__":
    main()
