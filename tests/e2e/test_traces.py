"""Acceptance (issue 15, traces): one connected trace for a sling, from the CLI's process to
the pod's runtime, received by a local OTLP receiver.

The CLI runs as its own process (the real kubectl plugin) with OTEL_EXPORTER_OTLP_ENDPOINT
set; the worker runs in this process with a tracer provider of its own (never the global one,
which a process can set only once); the pod's runtime is a process of the sandbox's kubelet
and exports OTLP/JSON to the endpoint the worker put in its env. Every span's parent must be
in the trace, and the only root is the CLI's.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api.identity import convoy_polecat_name, polecat_workflow_id
from gastown.kube import Kube
from gastown.service.worker import WorkerOptions, build_worker
from gastown.telemetry.tracing import Tracing, from_env
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import TEST_DEFAULTS, ClusterKube, Result, gt_runner, wait_until
from tests.otlp import ReceivedSpan, Receiver, serve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


@pytest.fixture
def tracing(receiver: Receiver) -> Iterator[Tracing]:
    t = from_env("gastown-worker", {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})
    assert t.on
    yield t
    t.shutdown()


@pytest.fixture
async def traced_worker(
    temporal_client: Client, kube: Kube, pod_tools: Path, tracing: Tracing
) -> AsyncIterator[Worker]:
    queue = f"gastown-{secrets.token_hex(4)}"
    w = build_worker(temporal_client, queue, kube, TEST_DEFAULTS, WorkerOptions(), tracing=tracing)
    async with w:
        yield w


@pytest.fixture
def traced_gt(
    cluster: Cluster,
    temporal: TemporalDev,
    traced_worker: Worker,
    namespace: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Awaitable[Result]]:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    return gt_runner(cluster, temporal, traced_worker.task_queue, namespace, seed="1")


def by_name(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = by_name(spans, name)
    assert len(found) == 1, (name, sorted(s.name for s in spans))
    return found[0]


async def test_one_connected_trace_from_sling_to_pod(
    traced_gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    receiver: Receiver,
    tracing: Tracing,
    kube: ClusterKube,
    temporal_client: Client,
) -> None:
    rig = rig_factory()
    result = await traced_gt(
        "sling", "dm-0001", rig, "--name", "nux", "--agent", "command", "--wait"
    )
    assert result.code == 0, result.err
    # --wait returns at Done; the workflow's last activities (the pod's deletion schedule)
    # run after it. Once it has completed, everything the worker traced has ended.
    await temporal_client.get_workflow_handle(polecat_workflow_id(namespace, "nux")).result()
    assert tracing.provider is not None
    tracing.provider.force_flush()

    roots = await wait_until(
        lambda: _async(by_name(receiver.snapshot(), "kubectl gt sling")), 30, "the CLI's span"
    )
    assert len(roots) == 1
    root = roots[0]
    assert root.service == "kubectl-gt" and root.parent_id is None
    assert root.attributes["gastown.bead"] == "dm-0001"

    wanted = {
        "gt-polecat init",
        "clone",
        "gt-polecat agent",
        "agent",
        "gt-polecat publish",
        "commit",
        "push",
    }

    async def complete() -> list[ReceivedSpan] | None:
        spans = receiver.trace(root.trace_id)
        return spans if wanted <= {s.name for s in spans} else None

    spans = await wait_until(complete, 30, "the pod's spans in the sling's trace")
    ids = {s.span_id: s for s in spans}

    # Connected: every parent is in the trace, and the CLI's span is the only root.
    orphans = [(s.name, s.service) for s in spans if s.parent_id and s.parent_id not in ids]
    assert not orphans
    assert [s.name for s in spans if s.parent_id is None] == ["kubectl gt sling"]

    def ancestors(span: ReceivedSpan) -> list[str]:
        names = []
        while span.parent_id:
            span = ids[span.parent_id]
            names.append(span.name)
        return names

    # Every process took part: the CLI, the worker (workflow and activities), the pod.
    services = {s.service for s in spans}
    assert services == {"kubectl-gt", "gastown-worker", "gt-polecat"}
    start = one(spans, "StartWorkflow:PolecatWorkflow")
    assert start.service == "kubectl-gt" and ancestors(start) == ["kubectl gt sling"]
    assert start.attributes["temporalWorkflowID"] == polecat_workflow_id(namespace, "nux")
    # The CLI's own API calls: the rig read and the Polecat's creation.
    assert {"GET rigs", "POST polecats"} <= {s.name for s in spans if s.service == "kubectl-gt"}

    launch = one(spans, "RunActivity:launch_pod")
    assert launch.service == "gastown-worker"
    assert "StartWorkflow:PolecatWorkflow" in ancestors(launch)
    pod_create = [s for s in spans if s.name == "POST pods"]
    assert len(pod_create) == 1 and pod_create[0].parent_id == launch.span_id
    assert pod_create[0].attributes["k8s.namespace.name"] == namespace
    assert pod_create[0].attributes["http.response.status_code"] == 201
    ensure = one(spans, "RunActivity:ensure_polecat")
    assert any(s.parent_id == ensure.span_id and s.name.startswith("PATCH polecats") for s in spans)

    # The pod: its three containers' processes, parented on the activity that launched it.
    init, agent = one(spans, "gt-polecat init"), one(spans, "gt-polecat agent")
    publish = one(spans, "gt-polecat publish")
    assert init.parent_id == launch.span_id and agent.parent_id == launch.span_id
    assert publish.parent_id == launch.span_id
    assert init.encoding == agent.encoding == publish.encoding == "json"
    assert one(spans, "clone").parent_id == init.span_id
    assert one(spans, "agent").parent_id == agent.span_id
    for phase in ("commit", "push"):
        assert one(spans, phase).parent_id == publish.span_id
    assert publish.attributes.get("gastown.outcome") == "completed"

    # Nothing of this polecat went to another trace.
    wid = polecat_workflow_id(namespace, "nux")
    strays = [
        s.name
        for s in receiver.snapshot()
        if s.attributes.get("temporalWorkflowID") == wid and s.trace_id != root.trace_id
    ]
    assert not strays

    # The trace ID is where people look: `polecat status` and the Temporal UI's details.
    status = await traced_gt("polecat", "status", f"{rig}/nux")
    assert status.code == 0, status.err
    assert f"Trace:         {root.trace_id}" in status.out.splitlines()
    handle = temporal_client.get_workflow_handle(wid)
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert f"trace `{root.trace_id}`" in meta.current_details

    # No span carries a body or a secret: Kubernetes spans hold method, resource, namespace
    # and status only.
    for s in spans:
        if s.attributes.get("k8s.resource"):
            assert set(s.attributes) <= {
                "http.request.method",
                "k8s.resource",
                "k8s.namespace.name",
                "k8s.subresource",
                "http.response.status_code",
                "error.type",
            }


async def _async(value: Any) -> Any:
    return value


async def test_a_convoy_is_one_trace_holding_its_polecats(
    traced_gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    receiver: Receiver,
    tracing: Tracing,
    temporal_client: Client,
) -> None:
    rig = rig_factory()
    result = await traced_gt(
        "convoy",
        "create",
        "Traced",
        "dm-0001",
        "dm-0002",
        "--rig",
        rig,
        "--name",
        "traced",
        "--agent",
        "command",
        "--wait",
    )
    assert result.code == 0, (result.out, result.err)
    await temporal_client.get_workflow_handle(f"convoy/{namespace}/traced").result()
    for bead in ("dm-0001", "dm-0002"):
        wid = polecat_workflow_id(namespace, convoy_polecat_name("traced", bead))
        await temporal_client.get_workflow_handle(wid).result()
    assert tracing.provider is not None
    tracing.provider.force_flush()

    roots = await wait_until(
        lambda: _async(by_name(receiver.snapshot(), "kubectl gt convoy create")), 30, "root"
    )
    root = roots[0]

    async def both_pods() -> list[ReceivedSpan] | None:
        spans = receiver.trace(root.trace_id)
        return spans if len(by_name(spans, "gt-polecat publish")) == 2 else None

    spans = await wait_until(both_pods, 30, "both polecats' pods in the convoy's trace")
    ids = {s.span_id for s in spans}
    assert not [s.name for s in spans if s.parent_id and s.parent_id not in ids]
    assert [s.name for s in spans if s.parent_id is None] == ["kubectl gt convoy create"]
    # The polecats are the convoy's children in the trace, each with its own workflow.
    starts = by_name(spans, "StartChildWorkflow:PolecatWorkflow")
    assert len(starts) == 2
    runs = by_name(spans, "RunWorkflow:PolecatWorkflow")
    assert {r.parent_id for r in runs} == {s.span_id for s in starts}
