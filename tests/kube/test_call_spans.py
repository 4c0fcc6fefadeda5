"""A traced client against the sandbox: one span per call inside a trace, with the answer's
status code, through both transports."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from gastown.kube import NAMESPACES, PODS, Kube, NotFound, reading


def test_each_call_is_a_span_with_its_status(kube: Kube) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = kube.traced(provider.get_tracer("t"))

    traced.run_sync(reading.get(NAMESPACES, "default"))
    assert exporter.get_finished_spans() == ()  # outside a trace: no span

    with provider.get_tracer("t").start_as_current_span("activity") as parent:
        traced.run_sync(reading.get(NAMESPACES, "default"))
        with pytest.raises(NotFound):
            traced.run_sync(reading.get(PODS, "no-such-pod", "default"))
    got, missing = [s for s in exporter.get_finished_spans() if s.name != "activity"]
    assert got.name == "GET namespaces"
    assert got.attributes is not None and got.attributes["http.response.status_code"] == 200
    assert got.parent is not None and got.parent.span_id == parent.get_span_context().span_id
    assert missing.name == "GET pods"
    assert missing.attributes is not None
    assert missing.attributes["http.response.status_code"] == 404
    assert missing.attributes["k8s.namespace.name"] == "default"
    assert missing.status.status_code is StatusCode.ERROR
    provider.shutdown()
