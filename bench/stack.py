"""What the dispatcher benchmarks share: the sandbox API server and the Temporal dev server as
their own processes, the SDK runtime whose warnings are counted, and the worker's client.

Everything real but the pod's work: pods use an "instant" image the sandbox finishes at once
with the given result, so what is measured is the dispatch around the pod.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from kubernetes import client, config
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig

from gastown.kube import Kube
from gastown.sandbox.temporal_dev import free_port, start_dev_argv, wait_for_frontend
from gastown.service.worker import WorkerOptions

INSTANT = "instant.local/polecat-agent:bench"


class SlowTasks(logging.Handler):
    """Counts the SDK core's TMPRL1104 warnings (workflow task over 5 s)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "TMPRL1104" in record.getMessage():
            self.count += 1


SLOW = SlowTasks()
CORE_LOG = logging.getLogger("bench.temporal-core")
CORE_LOG.addHandler(SLOW)
CORE_LOG.propagate = False


@functools.cache
def runtime() -> Runtime:
    """One SDK runtime for all runs, its core logs forwarded to the counter above."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter="WARN", forwarding=LogForwardingConfig(logger=CORE_LOG))
        )
    )


@asynccontextmanager
async def stack(instant_result: str) -> AsyncIterator[tuple[str, str]]:
    """(kubeconfig, Temporal address) of a fresh sandbox and dev server, each its own process
    (as a real API server would be: no GIL shared with the worker)."""
    tmp = Path(tempfile.mkdtemp(prefix="gastown-bench-"))
    sandbox = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gastown.sandbox",
        "serve",
        "--state-dir",
        str(tmp),
        "--gastown-crds",
        "--node-cpu",
        "100000",
        "--node-memory",
        "100Ti",
        "--node-pods",
        "100000",
        "--instant-image",
        f"{INSTANT}={instant_result}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    ready = tmp / "ready.json"
    deadline = time.monotonic() + 30
    while not ready.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the sandbox did not come up")
        await asyncio.sleep(0.05)
    kubeconfig = json.loads(ready.read_text())["kubeconfig"]
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *start_dev_argv(port, None, None),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for_frontend(f"127.0.0.1:{port}", "default", 60)
        yield kubeconfig, f"127.0.0.1:{port}"
    finally:
        for proc in (server, sandbox):
            proc.terminate()
            await proc.wait()


def bench_client(kubeconfig: str, pool: int) -> client.ApiClient:
    """An official client whose connection pool is `pool` wide."""
    api = config.new_client_from_config(kubeconfig)
    api.configuration.connection_pool_maxsize = pool
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = pool
    return api


def worker_kube(kubeconfig: str, options: WorkerOptions) -> Kube:
    """The worker's own client, its connection pool as large as its thread pool (+ the watch)."""
    return Kube(bench_client(kubeconfig, options.kube_threads + 1))


def make_rig(
    api: client.ApiClient,
    name: str,
    max_polecats: int,
    command: list[str] | None = None,
    **polecat_defaults: object,
) -> None:
    defaults: dict[str, object] = {"image": INSTANT, **polecat_defaults}
    if command:
        defaults["agentConfig"] = {"command": command}
    rig = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Rig",
        "metadata": {"name": name},
        "spec": {
            "gitURL": "file:///srv/bench.git",
            "beadsPrefix": "bn",
            "settings": {"maxPolecats": max_polecats, "polecatDefaults": defaults},
        },
    }
    client.CustomObjectsApi(api).create_cluster_custom_object(
        "gastown.gastown.io", "v1alpha1", "rigs", rig
    )


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_table(runs: list[dict[str, float]]) -> None:
    """Each measure's median over the runs, and every run's value (a markdown table)."""
    print("| measure | median | runs |\n|---|---|---|")
    for key in runs[0]:
        values = [r[key] for r in runs]
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {key} | {statistics.median(values):.2f} | {shown} |")
    sys.stdout.flush()
