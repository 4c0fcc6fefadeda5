"""A local OTLP/HTTP trace receiver for the tests: what a collector would receive.

It takes POST /v1/traces in both encodings OTLP defines — protobuf (the SDK's exporter, in
the CLI and the worker) and JSON (the pod runtime's own exporter) — and keeps each span as
plain fields, so a test can check a whole trace's shape: names, services, parent links.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    attributes: dict[str, Any]
    encoding: str
    status_code: int = 0


def _json_value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    return None


def _proto_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def from_protobuf(body: bytes) -> list[ReceivedSpan]:
    req = ExportTraceServiceRequest.FromString(body)
    out = []
    for rs in req.resource_spans:
        res = {a.key: _proto_value(a.value) for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    ReceivedSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex() or None,
                        name=s.name,
                        service=str(res.get("service.name")),
                        attributes={a.key: _proto_value(a.value) for a in s.attributes},
                        encoding="protobuf",
                        status_code=s.status.code,
                    )
                )
    return out


def from_json(body: bytes) -> list[ReceivedSpan]:
    """OTLP/JSON: trace and span IDs are hex strings (not base64 as protobuf's JSON mapping
    would have them)."""
    doc = json.loads(body)
    out = []
    for rs in doc.get("resourceSpans") or []:
        attrs = (rs.get("resource") or {}).get("attributes") or []
        res = {a["key"]: _json_value(a["value"]) for a in attrs}
        for ss in rs.get("scopeSpans") or []:
            for s in ss.get("spans") or []:
                out.append(
                    ReceivedSpan(
                        trace_id=s["traceId"],
                        span_id=s["spanId"],
                        parent_id=s.get("parentSpanId") or None,
                        name=s["name"],
                        service=str(res.get("service.name")),
                        attributes={
                            a["key"]: _json_value(a["value"]) for a in s.get("attributes") or []
                        },
                        encoding="json",
                        status_code=int((s.get("status") or {}).get("code") or 0),
                    )
                )
    return out


@dataclass
class Receiver:
    url: str
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.snapshot() if s.trace_id == trace_id]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            if kind == "application/x-protobuf":
                spans, answer = from_protobuf(body), b""
            elif kind == "application/json":
                spans, answer = from_json(body), b"{}"
            else:
                self.send_error(415)
                return
            with receiver.lock:
                receiver.spans.extend(spans)
                receiver.requests.append({"content_type": kind, "path": self.path})
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve() -> Iterator[Receiver]:
    """A receiver on a loopback port for the duration of the generator."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver("")))
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
