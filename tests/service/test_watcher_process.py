"""Two `gastown-operator watcher` replicas behind one Lease, as the chart runs them: both are
ready (the follower is the hot standby), /readyz says which one leads, and when the leader goes
the follower takes over and says so."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from kubernetes import client

from gastown.sandbox.cluster import Sandbox
from tests.conftest import Cluster, TemporalDev
from tests.service.processes import answer_with, free_port, get, operator, wait_for


def test_both_replicas_are_ready_and_readyz_names_the_leader(
    cluster: Cluster, temporal: TemporalDev, namespace: str, tmp_path: Path
) -> None:
    env = {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": temporal.address}
    ports = {"a": free_port(), "b": free_port()}
    metrics = free_port()

    def args(name: str) -> list[str]:
        return [
            "--health-port",
            str(ports[name]),
            "--lease-namespace",
            namespace,
            "--lease-name",
            "service-test",
            "--identity",
            f"watcher-{name}",
            "--lease-seconds",
            "4",
        ]

    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"

    def leading(name: str) -> Callable[[], str | None]:
        def check() -> str | None:
            got = get(ports[name], "/readyz")
            return got[1] if got[0] == 200 and got[1].startswith("leader of") else None

        return check

    metrics_flag = ["--metrics-bind-address", f"127.0.0.1:{metrics}"]
    with operator("watcher", args("a") + metrics_flag, env, log_a) as a:
        # Ready at once as a follower; then it takes the free Lease and is ready as leader.
        first = wait_for("a leading", leading("a"), 60, a, log_a)
        assert first.startswith(f"leader of {namespace}/service-test: watching"), first
        assert get(metrics, "/metrics")[0] == 200  # the SDK's exporter, Temporal not yet used
        with operator("watcher", args("b"), env, log_b) as b:
            _, second = wait_for("b ready", answer_with(ports["b"], "/readyz", 200), 60, b, log_b)
            assert second.startswith(f"follower: waiting for the lease {namespace}/service-test")
            assert get(ports["b"], "/healthz") == (200, "ok\n")
            a.send_signal(signal.SIGTERM)  # a clean stop releases the Lease at once
            assert a.wait(30) == 0, log_a.read_text()
            took_over = wait_for("b leading", leading("b"), 60, b, log_b)
            assert took_over.startswith(f"leader of {namespace}/service-test: watching")
        assert b.returncode == 0, log_b.read_text()


def test_a_follower_that_cannot_read_the_lease_is_not_ready(
    cluster: Cluster,
    temporal: TemporalDev,
    namespace: str,
    sandbox: Sandbox,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    """A standby that has lost the API server could not take over: a rollout must not count it."""
    coordination = client.CoordinationV1Api(api_client)
    # Someone else holds the Lease for an hour, so this replica stays the follower.
    coordination.create_namespaced_lease(
        namespace,
        {
            "metadata": {"name": "held"},
            "spec": {
                "holderIdentity": "someone-else",
                "leaseDurationSeconds": 3600,
                "renewTime": "2026-01-01T00:00:00.000000Z",
            },
        },
    )
    env = {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": temporal.address}
    port, log = free_port(), tmp_path / "follower.log"
    args = ["--health-port", str(port), "--lease-namespace", namespace, "--lease-name", "held",
            "--identity", "standby", "--lease-seconds", "2", "--renew-seconds", "1"]  # fmt: skip
    with operator("watcher", args, env, log) as proc:
        _, body = wait_for("ready", answer_with(port, "/readyz", 200), 60, proc, log)
        assert body.startswith(f"follower: waiting for the lease {namespace}/held"), body
        sandbox.faults.fail("get", "leases", namespace=namespace, code=500)
        _, body = wait_for("not ready", answer_with(port, "/readyz", 503), 30, proc, log)
        assert body.startswith(f"follower: cannot read the lease {namespace}/held"), body
        sandbox.faults.clear()
        _, body = wait_for("ready again", answer_with(port, "/readyz", 200), 30, proc, log)
        assert body.startswith("follower: waiting for the lease"), body
