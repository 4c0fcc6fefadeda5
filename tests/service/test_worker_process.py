"""`gastown-operator worker` as the process the chart runs: /healthz and /readyz, the SDK's
Prometheus metrics, and the search attributes registered at start, against the sandbox
cluster and a Temporal dev server that starts without our search attributes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from gastown.service.searchattrs import register_search_attributes
from gastown.workflows.contract import SEARCH_ATTRIBUTES
from tests.conftest import Cluster, TemporalDev
from tests.service.processes import answer_with, free_port, get, operator, wait_for


async def _custom_attributes(address: str) -> dict[str, int]:
    client = await Client.connect(address)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    return dict(listed.custom_attributes)


async def _register_again(address: str) -> list[str]:
    return await register_search_attributes(await Client.connect(address))


def test_worker_serves_health_metrics_and_registers_search_attributes(
    bare_temporal: TemporalDev, cluster: Cluster, tmp_path: Path
) -> None:
    assert "GastownRig" not in asyncio.run(_custom_attributes(bare_temporal.address))
    health, metrics = free_port(), free_port()
    log = tmp_path / "worker.log"
    env = {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": bare_temporal.address}
    args = [
        "--health-port",
        str(health),
        "--metrics-bind-address",
        f"127.0.0.1:{metrics}",
        "--register-search-attributes",
        "--task-queue",
        "service-endpoints",
    ]
    with operator("worker", args, env, log) as proc:
        _, body = wait_for("ready", answer_with(health, "/readyz", 200), 60, proc, log)
        assert "polling task queue 'service-endpoints'" in body
        assert get(health, "/healthz") == (200, "ok\n")
        assert get(health, "/nothing")[0] == 404

        # The SDK's exporter: series of the client's requests and the worker's polls.
        def scrape() -> str | None:
            text = get(metrics, "/metrics")[1]
            return text if "temporal_" in text else None

        scraped = wait_for("a temporal_ series on /metrics", scrape, 30, proc, log)
        series = {line.split("{")[0].split(" ")[0] for line in scraped.splitlines()}
        assert any(s.startswith("temporal_") and "poll" in s for s in series), sorted(series)
        assert any(s.startswith("temporal_request") for s in series), sorted(series)
    assert proc.returncode == 0, log.read_text()
    text = log.read_text()
    assert "search attributes: registered" in text
    custom = asyncio.run(_custom_attributes(bare_temporal.address))
    for key in SEARCH_ATTRIBUTES:
        assert custom.get(key.name) == int(key.indexed_value_type), (key.name, custom)
    # Idempotent: a second registration (the next replica) finds them all and adds nothing.
    assert asyncio.run(_register_again(bare_temporal.address)) == []


def test_readyz_is_503_while_temporal_does_not_answer(cluster: Cluster, tmp_path: Path) -> None:
    """Something accepts connections at the Temporal address but never answers: the loop is
    alive (/healthz), the worker is not ready (/readyz says why), and SIGTERM still ends it."""
    health = free_port()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    address = f"127.0.0.1:{silent.getsockname()[1]}"
    log = tmp_path / "worker.log"
    env = {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": address}
    try:
        with operator("worker", ["--health-port", str(health)], env, log) as proc:
            assert wait_for("health", answer_with(health, "/healthz", 200), 30, proc, log)
            assert get(health, "/readyz") == (503, "connecting to Temporal\n")
    finally:
        silent.close()
    assert proc.returncode == 0, log.read_text()


def test_an_unreachable_temporal_is_one_line_and_exit_1(cluster: Cluster, tmp_path: Path) -> None:
    nothing = free_port()
    log = tmp_path / "worker.log"
    env = {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": f"127.0.0.1:{nothing}"}
    with operator("worker", [], env, log) as proc:
        wait_for("the worker's end", lambda: proc.poll() is not None, 60)
    assert proc.returncode == 1, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text
    assert (
        f"error: cannot connect to Temporal at 127.0.0.1:{nothing} (namespace default, plaintext)"
        in text
    )
