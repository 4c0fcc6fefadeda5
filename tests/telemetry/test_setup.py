"""Tracing from the OTEL_* environment, and the Kubernetes call spans' names."""

from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gastown.kube.calls import Request
from gastown.kube.tracing import call_span, describe, record_status
from gastown.telemetry import podenv
from gastown.telemetry.tracing import Tracing, enabled, from_env, traces_endpoint


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_enabled_only_with_an_endpoint(env: dict[str, str], on: bool) -> None:
    assert enabled(env) is on
    tracing = from_env("svc", env)
    assert tracing.on is on
    assert bool(tracing.interceptors()) is on
    tracing.shutdown()


def test_off_costs_nothing() -> None:
    tracing = from_env("svc", {})
    assert tracing.provider is None and tracing.tracer("x") is None
    with tracing.span("anything") as span:
        assert span is None
    assert podenv.pod_env(tracing) == []


def test_endpoints() -> None:
    assert traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == (
        "http://c:4318/v1/traces"
    )
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "GASTOWN_POD_OTLP_TRACES_ENDPOINT": "http://p/v1/traces",
    }
    tracing = from_env("svc", env)
    assert tracing.endpoint == "http://c:4318/v1/traces"
    assert tracing.pod_endpoint == "http://p/v1/traces"
    tracing.shutdown()


@pytest.mark.parametrize("pod_var", [False, True])
def test_pod_endpoint_never_carries_credentials(
    pod_var: bool, caplog: pytest.LogCaptureFixture
) -> None:
    secret_url = "https://user:s3cret@collector:4318/v1/traces?api-key=k3y#frag"
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": secret_url}
    if pod_var:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
            "GASTOWN_POD_OTLP_TRACES_ENDPOINT": secret_url,
        }
    with caplog.at_level("WARNING", logger="gastown.telemetry"):
        tracing = from_env("svc", env)
    try:
        assert tracing.pod_endpoint == "https://collector:4318/v1/traces"
        provider = tracing.provider
        assert provider is not None
        with provider.get_tracer("t").start_as_current_span("launch"):
            values = [e["value"] for e in podenv.pod_env(tracing)]
        assert "https://collector:4318/v1/traces" in values
        assert not any("s3cret" in v or "k3y" in v or "user" in v for v in values)
        assert "GASTOWN_POD_OTLP_TRACES_ENDPOINT" in caplog.text
        assert "s3cret" not in caplog.text and "k3y" not in caplog.text
    finally:
        tracing.shutdown()


def test_pod_env_carries_the_current_span_and_replaces_the_users() -> None:
    provider = TracerProvider()
    tracing = Tracing(
        provider=provider, endpoint="http://c/v1/traces", pod_endpoint="http://c/v1/traces"
    )
    assert podenv.pod_env(tracing) == []  # no current span: nothing to join
    with provider.get_tracer("t").start_as_current_span("launch") as span:
        env = podenv.pod_env(tracing)
    ctx = span.get_span_context()
    values = {e["name"]: e["value"] for e in env}
    version, trace, parent, flags = values["TRACEPARENT"].split("-")
    assert (version, trace, parent) == ("00", f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert values["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://c/v1/traces"
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in values
    shared = [{"name": "TRACEPARENT", "value": "user's"}, {"name": "A", "value": "1"}]
    pod = {"spec": {"initContainers": [{"env": shared}], "containers": [{"env": shared}]}}
    podenv.with_env(pod, env)
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        names = [e["name"] for e in container["env"]]
        assert names.count("TRACEPARENT") == 1 and "A" in names
        assert {e["name"]: e["value"] for e in container["env"]}["TRACEPARENT"] != "user's"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/namespaces/ns/pods/p-1", ("pods", "ns", None)),
        ("/api/v1/namespaces/ns/pods/p-1/log", ("pods", "ns", "log")),
        (
            "/apis/gastown.gastown.io/v1alpha1/namespaces/ns/polecats/x/status",
            ("polecats", "ns", "status"),
        ),
        ("/apis/gastown.gastown.io/v1alpha1/rigs/r", ("rigs", None, None)),
        ("/api/v1/namespaces/ns", ("namespaces", None, None)),
        ("/api/v1/namespaces/ns/secrets?labelSelector=a", ("secrets", "ns", None)),
    ],
)
def test_call_description(path: str, expected: tuple[str, str | None, str | None]) -> None:
    assert describe(path) == expected


def test_a_call_span_only_inside_a_trace_and_never_its_body() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    request = Request("POST", "/api/v1/namespaces/ns/secrets", body={"data": {"token": "c2VjcmV0"}})
    with call_span(tracer, request) as span:
        assert span is None  # no trace: no root span per background call
    with tracer.start_as_current_span("activity"), call_span(tracer, request) as span:
        record_status(span, 409)
    (call,) = [s for s in exporter.get_finished_spans() if s.name != "activity"]
    assert call.name == "POST secrets"
    assert dict(call.attributes or {}) == {
        "http.request.method": "POST",
        "k8s.resource": "secrets",
        "k8s.namespace.name": "ns",
        "http.response.status_code": 409,
    }
    assert "c2VjcmV0" not in str(call.to_json())


@pytest.mark.parametrize(
    ("traceparent", "expected"),
    [
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", None),  # sampled out
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("junk", None),
        (None, None),
    ],
)
def test_the_workflows_trace_id(traceparent: object, expected: str | None) -> None:
    from gastown.workflows.tracing import trace_id_of

    assert trace_id_of(traceparent) == expected


class _StuckExport(SimpleSpanProcessor):
    """A processor whose shutdown blocks like an export to a collector that does not answer."""

    def __init__(self) -> None:
        super().__init__(InMemorySpanExporter())
        self.entered = threading.Event()
        self.release = threading.Event()

    def shutdown(self) -> None:
        self.entered.set()
        self.release.wait(60)
        super().shutdown()


async def test_shutdown_async_keeps_the_loop_free_and_is_bounded() -> None:
    provider = TracerProvider()
    stuck = _StuckExport()
    provider.add_span_processor(stuck)
    tracing = Tracing(provider=provider, endpoint="http://c/v1/traces")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        # Returns although the export never ends: bounded, and not on the loop's thread.
        await tracing.shutdown_async(0.2)
        assert stuck.entered.is_set() and not stuck.release.is_set()
        assert ticks > 1  # the loop kept running while the export was stuck
    finally:
        ticker.cancel()
        stuck.release.set()


async def test_shutdown_async_waits_for_an_export_that_finishes() -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing = Tracing(provider=provider, endpoint="http://c/v1/traces")
    with provider.get_tracer("t").start_as_current_span("last words"):
        pass
    await tracing.shutdown_async(30)
    assert [s.name for s in exporter.get_finished_spans()] == ["last words"]
