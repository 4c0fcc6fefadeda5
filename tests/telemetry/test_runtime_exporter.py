"""The pod runtime's own tracer: W3C parent, nesting, OTLP/JSON to a real HTTP receiver."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from gastown.runtime import tracing
from tests.otlp import Receiver, serve

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve()


def test_spans_nest_under_the_traceparent_and_arrive_as_json(receiver: Receiver) -> None:
    env = {
        "TRACEPARENT": PARENT,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "GT_POLECAT": "nux",
        "GT_RIG": "demo",
    }
    tracer = tracing.from_env(env)
    with tracer.span("gt-polecat run") as top:
        with tracer.span("agent", **{"gastown.agent": "command"}):
            pass
        with pytest.raises(ValueError, match="x"), tracer.span("push"):
            raise ValueError("x")
        top.set("gastown.outcome", "completed")
    spans = {s.name: s for s in receiver.snapshot()}
    assert set(spans) == {"gt-polecat run", "agent", "push"}
    assert len(receiver.requests) == 1  # one POST, when the top span ended
    assert receiver.requests[0]["content_type"] == "application/json"
    top_span = spans["gt-polecat run"]
    assert top_span.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert top_span.parent_id == "00f067aa0ba902b7"
    assert spans["agent"].parent_id == top_span.span_id
    assert spans["push"].parent_id == top_span.span_id
    assert spans["push"].status_code == 2 and spans["agent"].status_code == 1
    assert top_span.service == "gt-polecat"
    assert top_span.attributes["gastown.outcome"] == "completed"
    assert spans["agent"].attributes["gastown.agent"] == "command"


def test_nothing_recorded_or_sent_without_an_endpoint(receiver: Receiver) -> None:
    tracer = tracing.from_env({"TRACEPARENT": PARENT})
    assert not tracer.recording
    with tracer.span("gt-polecat init"), tracer.span("clone"):
        pass
    assert tracer.finished == []


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_SDK_DISABLED": "true"},
        {"OTEL_TRACES_EXPORTER": "none"},
        {"TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},  # unsampled
    ],
)
def test_switched_off(env: dict[str, str], receiver: Receiver) -> None:
    tracer = tracing.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **env})
    with tracer.span("gt-polecat run"):
        pass
    assert receiver.snapshot() == []


def test_an_unreachable_collector_costs_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tracer = tracing.from_env(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}/v1/traces",
            "TRACEPARENT": PARENT,
        }
    )
    with tracer.span("gt-polecat run"):
        pass
    err = capsys.readouterr().err
    assert err.count("could not send trace spans") == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (PARENT, ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)),
        ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_traceparent(value: str | None, expected: object) -> None:
    assert tracing.parse_traceparent(value) == expected


def test_endpoint_rules() -> None:
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == (
        "http://c:4318/v1/traces"
    )
    both = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x",
    }
    assert tracing.traces_endpoint(both) == "http://t:1/x"
    assert tracing.traces_endpoint({}) is None


def test_a_stalling_collector_costs_at_most_the_export_timeout_in_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A collector that answers a byte at a time never trips urllib's per-operation timeout;
    the export still gives up at its overall deadline, while the collector is still sending."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()
    sent_all = threading.Event()

    def dribble() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
            for _ in range(200):  # one byte per 0.1 s: 20 s in all
                if stop.wait(0.1):
                    return
                conn.sendall(b"x")
            sent_all.set()

    server = threading.Thread(target=dribble, daemon=True)
    server.start()
    try:
        tracer = tracing.Tracer(f"http://127.0.0.1:{port}/v1/traces", export_timeout=1.0)
        with tracer.span("gt-polecat run"):
            pass
        assert not sent_all.is_set()  # flush returned before the collector finished answering
        assert "could not send trace spans: no answer within 1s" in capsys.readouterr().err
    finally:
        stop.set()
        server.join(10)
        listener.close()
