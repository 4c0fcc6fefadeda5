"""The metrics acceptance: after a known sequence — three polecats Done (a convoy of three
beads), one Failed, one parked waiting for credentials — the worker's and the watcher's
/metrics (the SDK's Prometheus exporter, the real `gastown-operator` processes) show exactly
those values; and every query of
the Grafana dashboard and the alert rules in deploy/observability/ names a series that a scrape
of the two endpoints really shows.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gastown.api.auth import (
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_MODE,
    LABEL_CREDENTIALS,
    SESSION_KEY,
    format_time,
)
from gastown.sandbox import Sandbox
from gastown.sandbox.faults import FaultRule
from gastown.workflows import metrics as m
from tests import promtext
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import DEMO_AGENT, ClusterKube, gt_runner, wait_until
from tests.service.processes import free_port, get, operator, wait_for

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "observability" / "gastown-dashboard.json"
RULES = REPO / "deploy" / "observability" / "gastown-alerts.yaml"
CMD = ("--agent", "command")
SECRET = "claude-creds"


def demo(mode: str, cost: str) -> dict[str, Any]:
    env = [
        {"name": "DEMO_AGENT_MODE", "value": mode},
        {"name": "DEMO_AGENT_COST", "value": cost},
    ]
    return {"command": DEMO_AGENT, "env": env}


def expired_credentials(core: client.CoreV1Api, namespace: str, expired_at: float) -> None:
    """A replica-mode credentials Secret as `kubectl gt auth sync` writes one, expired."""
    oauth = {
        "accessToken": "sk-ant-oat01-METRICS-0123456789",
        "refreshToken": "sk-ant-ort01-METRICS-0123456789",
        "expiresAt": int(expired_at * 1000),
        "scopes": ["user:inference"],
    }
    doc = {"claudeAiOauth": oauth}
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=SECRET,
                labels={LABEL_CREDENTIALS: "true"},
                annotations={
                    ANNOTATION_MODE: "replica",
                    ANNOTATION_EXPIRES_AT: format_time(datetime.fromtimestamp(expired_at, tz=UTC)),
                },
            ),
            data={SESSION_KEY: base64.b64encode(json.dumps(doc).encode()).decode()},
        ),
    )


@pytest.fixture
def processes(
    cluster: Cluster, temporal: TemporalDev, namespace: str, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """The worker and the watcher as the chart runs them, each serving /metrics.

    It takes `namespace` so that it stops before the namespace goes: a worker still running
    while its polecats' namespace terminates spends its whole shutdown grace on refused
    writes, and outlives the stop deadline."""
    queue = f"metrics-{secrets.token_hex(4)}"
    ports = {"worker": free_port(), "watcher": free_port()}
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "TEMPORAL_ADDRESS": temporal.address,
        "TEMPORAL_NAMESPACE": temporal.namespace,
    }
    common = ["--task-queue", queue]
    worker_args = [*common, "--metrics-bind-address", f"127.0.0.1:{ports['worker']}",
                   "--pending-timeout", "20", "--image-pull-grace", "3"]  # fmt: skip
    watcher_args = [*common, "--metrics-bind-address", f"127.0.0.1:{ports['watcher']}",
                    "--lease-name", queue, "--rig-resync-seconds", "2"]  # fmt: skip
    with (
        operator("worker", worker_args, env, tmp_path / "worker.log") as worker,
        operator("watcher", watcher_args, env, tmp_path / "watcher.log") as watcher,
    ):
        yield {"queue": queue, "ports": ports, "procs": (worker, watcher), "logs": tmp_path}


def scrape(port: int) -> list[promtext.Sample]:
    status, text = get(port, "/metrics")
    assert status == 200, text
    return promtext.parse(text)


async def test_metrics_after_three_done_one_failed_one_parked(
    processes: dict[str, Any],
    cluster: Cluster,
    temporal: TemporalDev,
    sandbox: Sandbox,
    namespace: str,
    kube: ClusterKube,
    rig_factory: Callable[..., str],
    core: client.CoreV1Api,
) -> None:
    gt = gt_runner(cluster, temporal, processes["queue"], namespace, seed=None)
    done_rig = rig_factory(agentConfig=demo("edit", "0.25"))
    failed_rig = rig_factory(agentConfig=demo("fail", "0.5"))
    parked_rig = rig_factory(claudeCredsSecretRef={"name": "claude-creds"})
    expired_at = int(time.time()) - 60
    expired_credentials(core, namespace, expired_at)
    # One failed read of a Polecat by the worker (its resolve activity, retried by Temporal):
    # an API error counted once, and the polecat still counted as started once.
    sandbox.faults.add(FaultRule(verb="get", resource="polecats", namespace=namespace, times=1))

    slung = await asyncio.gather(
        gt(
            "convoy",
            "create",
            "Three",
            "dm-0",
            "dm-1",
            "dm-2",
            "--rig",
            done_rig,
            "--name",
            "three",
            "--parallelism",
            "3",
            *CMD,
            "--wait",
        ),
        gt("sling", "dm-9", failed_rig, "--name", "failing", *CMD, "--wait"),
        gt("sling", "dm-7", parked_rig, "--name", "parked", *CMD),
    )
    assert [r.code for r in slung] == [0, 1, 0], [r.err for r in slung]

    async def parked() -> bool:
        polecat = await kube.get_polecat(namespace, "parked")
        return (polecat.get("status") or {}).get("phase") == "WaitingForCredentials"

    await wait_until(parked, 120, "the polecat to park WaitingForCredentials")
    worker_port, watcher_port = processes["ports"]["worker"], processes["ports"]["watcher"]

    # ---------------------------------------------------------------- the worker
    w = scrape(worker_port)
    t = promtext.total
    assert t(w, m.POLECATS_STARTED, rig=done_rig) == 3
    assert t(w, m.POLECATS_STARTED, rig=failed_rig) == 1
    assert t(w, m.POLECATS_STARTED, rig=parked_rig) == 1
    assert t(w, m.POLECATS_FINISHED, rig=done_rig, phase="Done", outcome="completed") == 3
    assert t(w, m.POLECATS_FINISHED, rig=failed_rig, phase="Failed", outcome="agent_failed") == 1
    assert t(w, m.POLECATS_FINISHED, rig=done_rig) == 3  # and nothing else
    assert t(w, m.POLECATS_FINISHED, rig=failed_rig) == 1
    assert t(w, m.POLECATS_FINISHED, rig=parked_rig) == 0
    for rig, pods in ((done_rig, 3), (failed_rig, 1), (parked_rig, 0)):
        assert t(w, m.SLING_TO_POD + "_count", rig=rig) == pods, rig
        assert t(w, m.POD_RUN + "_count", rig=rig) == pods, rig
        assert t(w, m.QUEUE_WAIT + "_count", rig=rig) == pods, rig  # parked before a slot
    assert t(w, m.POD_RUN + "_count", rig=done_rig, outcome="completed") == 3
    assert t(w, m.POD_RUN + "_count", rig=failed_rig, outcome="agent_failed") == 1
    assert t(w, m.AGENT_COST + "_sum", rig=done_rig) == pytest.approx(0.75)
    assert t(w, m.AGENT_COST + "_sum", rig=failed_rig) == pytest.approx(0.5)
    assert t(w, m.AGENT_TURNS + "_sum", rig=done_rig) == 3  # the demo agent reports one each
    assert t(w, m.AGENT_TURNS + "_count", rig=failed_rig) == 0  # a failure reports no turns
    assert t(w, m.KUBE_API_ERRORS, verb="get", code="500") == 1

    # ---------------------------------------------------------------- the watcher
    def fleet() -> list[promtext.Sample] | None:
        found = scrape(watcher_port)
        settled = (
            t(found, m.POLECATS, rig=done_rig, phase="Done") == 3
            and t(found, m.POLECATS, rig=failed_rig, phase="Failed") == 1
            and t(found, m.POLECATS, rig=parked_rig, phase="WaitingForCredentials") == 1
        )
        return found if settled else None

    a = wait_for("the watcher's gauges to settle", fleet, 60)
    for rig, phases in ((done_rig, {"Done": 3}), (failed_rig, {"Failed": 1}),
                        (parked_rig, {"WaitingForCredentials": 1})):  # fmt: skip
        shown = {s.labels["phase"]: s.value for s in a if s.name == m.POLECATS
                 and s.labels.get("rig") == rig and s.value}  # fmt: skip
        assert shown == phases, (rig, shown)
    assert t(a, m.POLECATS_PARKED, rig=parked_rig, phase="WaitingForCredentials") == 1
    assert t(a, m.POLECATS_PARKED, rig=parked_rig, reason="CredentialsExpired") == 1
    assert t(a, m.POLECATS_PARKED, rig=done_rig) == 0
    assert t(a, m.POLECATS_PARKED, phase="Queued", rig=parked_rig) == 0
    expiry = promtext.value(a, m.CREDENTIALS_EXPIRY, namespace=namespace, secret=SECRET)
    assert expiry == expired_at
    # The convoy of the three Done: no longer running, its beads no longer counted.
    assert promtext.value(a, m.CONVOYS_RUNNING, rig=done_rig) == 0
    assert t(a, m.CONVOY_BEADS, rig=done_rig) == 0
    assert t(a, m.WATCHER_EVENT_LAG + "_count", queue="polecat") >= 5
    assert promtext.value(a, m.WATCHER_QUEUE_DEPTH, queue="polecat") is not None

    # ------------------------------------------- every query names a series that exists
    exposed = {s.name for s in w} | {s.name for s in a}
    for where, expr in queries():
        missing = promtext.series_names(expr) - exposed
        assert not missing, f"{where}: {expr!r} names {sorted(missing)}, not exposed"


def queries() -> list[tuple[str, str]]:
    """Every PromQL expression of the dashboard (panel targets, template variables) and of
    the alert rules."""
    found: list[tuple[str, str]] = []
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r}", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            expr = query["query"] if isinstance(query, dict) else query
            inner = expr.removeprefix("label_values(").rsplit(",", 1)[0]
            found.append((f"variable {variable['name']!r}", inner))
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            found.append((f"alert {rule['alert']!r}", rule["expr"]))
    assert found
    return found
