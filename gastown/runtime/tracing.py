"""The pod's spans (clone, agent, commit, push, PR), sent as OTLP/HTTP JSON.

The runtime may import only the standard library and pydantic, so this is a small tracer of
its own rather than the OpenTelemetry SDK: spans nest on one stack (the runtime is one thread
doing one thing at a time), each process's spans are POSTed once, when its top span ends, to
`<endpoint>/v1/traces` as OTLP's JSON encoding (hex IDs, nanosecond times as strings, enums
as numbers). The parent is the `TRACEPARENT` the worker put in the pod's env (W3C trace
context), so the pod's spans join the sling's trace; without an endpoint nothing is recorded
at all. Exporting never fails the pod: an unreachable or stalling collector costs one line on
stderr and at most `EXPORT_TIMEOUT` seconds per POST in all (an overall deadline, not
urllib's per-socket-operation timeout).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gastown.runtime import redact

EXPORT_TIMEOUT = 5.0
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_SPAN_KIND_INTERNAL = 1
_STATUS_ERROR = 2
_STATUS_OK = 1


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def traces_endpoint(env: Mapping[str, str]) -> str | None:
    """As the OTLP exporters read it: the traces URL as given, else the base + /v1/traces."""
    if _truthy(env.get("OTEL_SDK_DISABLED")):
        return None
    exporters = {e.strip().lower() for e in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")}
    if "otlp" not in exporters:
        return None
    specific = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
    if specific:
        return specific
    general = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    return general.rstrip("/") + "/v1/traces" if general else None


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """(trace ID, parent span ID, sampled) from a W3C traceparent; None if malformed."""
    m = _TRACEPARENT.match((value or "").strip().lower())
    if not m or set(m.group(1)) == {"0"} or set(m.group(2)) == {"0"}:
        return None
    return m.group(1), m.group(2), bool(int(m.group(3), 16) & 1)


def _headers(env: Mapping[str, str]) -> dict[str, str]:
    """OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: `k=v,k2=v2`, values URL-encoded."""
    from urllib.parse import unquote

    raw = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS")
    out: dict[str, str] = {}
    for part in (raw or "").split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[unquote(key.strip())] = unquote(value.strip())
            redact.register(out[unquote(key.strip())])
    return out


def _value(v: str | int | float | bool) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": redact.redact(str(v))}


def _attributes(attrs: Mapping[str, str | int | float | bool]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in attrs.items()]


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    start_ns: int = field(default_factory=time.time_ns)
    end_ns: int = 0
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    error: str | None = None

    def set(self, key: str, value: str | int | float | bool | None) -> None:
        if value is not None:
            self.attributes[key] = value

    def fail(self, message: str) -> None:
        self.error = redact.redact(message)

    def otlp(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "name": self.name,
            "kind": _SPAN_KIND_INTERNAL,
            "startTimeUnixNano": str(self.start_ns),
            "endTimeUnixNano": str(self.end_ns),
            "attributes": _attributes(self.attributes),
            "status": {"code": _STATUS_ERROR, "message": self.error}
            if self.error
            else {"code": _STATUS_OK},
        }
        if self.parent_id:
            doc["parentSpanId"] = self.parent_id
        return doc


class Tracer:
    """Records spans when it has an endpoint; otherwise every span is a no-op."""

    def __init__(
        self,
        endpoint: str | None,
        *,
        service: str = "gt-polecat",
        parent: tuple[str, str, bool] | None = None,
        headers: Mapping[str, str] | None = None,
        resource: Mapping[str, str] | None = None,
        export_timeout: float = EXPORT_TIMEOUT,
    ) -> None:
        self.export_timeout = export_timeout
        sampled = parent[2] if parent else True
        self.endpoint = endpoint if sampled else None
        self.service = service
        self.trace_id = parent[0] if parent else secrets.token_hex(16)
        self.headers = dict(headers or {})
        self.resource = dict(resource or {})
        self._stack: list[str] = [parent[1]] if parent else []
        self._depth = 0
        self.finished: list[Span] = []

    @property
    def recording(self) -> bool:
        return self.endpoint is not None

    @contextmanager
    def span(self, name: str, **attributes: str | int | float | bool | None) -> Iterator[Span]:
        """A child of the current span for the block; an exception marks it failed (type
        only: its message may quote what it should not) and goes on."""
        parent = self._stack[-1] if self._stack else None
        span = Span(name, self.trace_id, secrets.token_hex(8), parent)
        for key, value in attributes.items():
            span.set(key, value)
        if not self.recording:
            yield span
            return
        self._stack.append(span.span_id)
        self._depth += 1
        try:
            yield span
        except BaseException as exc:
            span.error = span.error or type(exc).__name__
            raise
        finally:
            self._stack.pop()
            self._depth -= 1
            span.end_ns = time.time_ns()
            self.finished.append(span)
            if self._depth == 0:
                self.flush()

    def payload(self) -> dict[str, Any]:
        resource = {"service.name": self.service, **self.resource}
        return {
            "resourceSpans": [
                {
                    "resource": {"attributes": _attributes(resource)},
                    "scopeSpans": [
                        {
                            "scope": {"name": "gastown.runtime"},
                            "spans": [s.otlp() for s in self.finished],
                        }
                    ],
                }
            ]
        }

    def flush(self) -> None:
        """POST the finished spans; a failure is one stderr line, never an exception."""
        if not self.recording or not self.finished:
            return
        assert self.endpoint is not None
        body = json.dumps(self.payload()).encode()
        self.finished = []
        request = urllib.request.Request(  # noqa: S310 - the operator's configured collector
            self.endpoint,
            data=body,
            method="POST",
            headers={**self.headers, "Content-Type": "application/json"},
        )
        # urllib's timeout bounds each socket operation, not the request: a collector that
        # answers a byte at a time could hold the pod for long. The POST runs in a daemon
        # thread joined for at most `export_timeout`; one left behind dies with the process.
        failure: list[str] = []

        def post() -> None:
            try:
                with urllib.request.urlopen(  # noqa: S310
                    request, timeout=self.export_timeout
                ) as resp:
                    resp.read()
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
                failure.append(redact.redact(str(exc)))

        sender = threading.Thread(target=post, name="gt-polecat-spans", daemon=True)
        sender.start()
        sender.join(self.export_timeout)
        if sender.is_alive():
            failure.append(f"no answer within {self.export_timeout:g}s")
        if failure:
            print(
                f"gt-polecat: could not send trace spans: {failure[0]}", file=sys.stderr, flush=True
            )


def from_env(env: Mapping[str, str] | None = None) -> Tracer:
    env = os.environ if env is None else env
    resource = {
        key: value
        for key, name in (
            ("gastown.polecat", "GT_POLECAT"),
            ("gastown.rig", "GT_RIG"),
            ("gastown.bead", "GT_BEAD_ID"),
            ("gastown.attempt", "GT_ATTEMPT"),
        )
        if (value := env.get(name))
    }
    return Tracer(
        traces_endpoint(env),
        service=(env.get("OTEL_SERVICE_NAME") or "").strip() or "gt-polecat",
        parent=parse_traceparent(env.get("TRACEPARENT")),
        headers=_headers(env),
        resource=resource,
    )


# The process's tracer: `main` installs one from the env; until then nothing is recorded.
_current = Tracer(None)


def install(tracer: Tracer) -> Tracer:
    global _current  # noqa: PLW0603 - one tracer per process, set once by main
    _current = tracer
    return tracer


def span(name: str, **attributes: str | int | float | bool | None) -> Any:
    """A span of the process's tracer (see `Tracer.span`)."""
    return _current.span(name, **attributes)
