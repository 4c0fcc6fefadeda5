"""A tracer provider from the standard `OTEL_*` environment, or none at all.

Tracing is off unless an OTLP endpoint is named (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_EXPORTER_OTLP_ENDPOINT`): then no provider, no interceptor and no span exist, so a
process that is not asked to trace pays nothing. `OTEL_SDK_DISABLED=true` and
`OTEL_TRACES_EXPORTER=none` turn it off even with an endpoint. The exporter is OTLP over
HTTP/protobuf; `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES` and
`OTEL_TRACES_SAMPLER` are read by the SDK as usual.

The provider is never installed globally: OpenTelemetry lets a process set its global provider
only once, and the tests run a worker per test in one process. Whoever traces is handed a
`Tracing` and takes its tracer from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer
    from temporalio.contrib.opentelemetry import TracingInterceptor

log = logging.getLogger("gastown.telemetry")

TRACES_PATH = "/v1/traces"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def traces_endpoint(env: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL the environment names, or None: the signal-specific variable
    as given, else the general one with `/v1/traces` appended (the OTLP exporter's rule)."""
    specific = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
    if specific:
        return specific
    general = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    if general:
        return general.rstrip("/") + TRACES_PATH
    return None


def credential_free(endpoint: str) -> str:
    """`endpoint` without userinfo, query or fragment: what may go into a pod's spec, which
    whoever can read pods can read. A stripped part is logged as a warning, masked."""
    parts = urllib.parse.urlsplit(endpoint)
    host = parts.netloc.rpartition("@")[2]
    clean = urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
    if clean != endpoint:
        log.warning(
            "the pods' OTLP endpoint held credentials or a query (%s); pods get %s instead: set "
            "GASTOWN_POD_OTLP_TRACES_ENDPOINT to a collector the pods reach without credentials",
            urllib.parse.urlunsplit(
                (
                    parts.scheme,
                    ("***@" if parts.username or parts.password else "") + host,
                    parts.path,
                    "***" if parts.query else "",
                    "***" if parts.fragment else "",
                )
            ),
            clean,
        )
    return clean


def enabled(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces at all."""
    if _truthy(env.get("OTEL_SDK_DISABLED")):
        return False
    exporters = {e.strip().lower() for e in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")}
    if "otlp" not in exporters:
        return False
    return traces_endpoint(env) is not None


@dataclass
class Tracing:
    """A process's tracing: a provider exporting to one endpoint, or off (`provider` None).

    `pod_endpoint` is where the polecat pods' runtime sends its spans: the worker's own
    endpoint unless `GASTOWN_POD_OTLP_TRACES_ENDPOINT` names another (a collector the pods
    can reach; the worker's may be a sidecar on its own loopback), without userinfo or query
    (`credential_free`). Its headers, which may hold an API key, are never handed to a pod."""

    provider: TracerProvider | None = None
    endpoint: str | None = None
    pod_endpoint: str | None = None
    _interceptor: TracingInterceptor | None = field(default=None, repr=False)

    @property
    def on(self) -> bool:
        return self.provider is not None

    def tracer(self, name: str) -> Tracer | None:
        """A tracer of this provider, or None when off (callers skip spans entirely)."""
        if self.provider is None:
            return None
        return self.provider.get_tracer(name)

    def interceptors(self) -> list[Any]:
        """temporalio's TracingInterceptor for a client or a worker (one per process: its
        workflow side is a class, its tracer is this provider's), or nothing when off."""
        if self.provider is None:
            return []
        if self._interceptor is None:
            from temporalio.contrib.opentelemetry import TracingInterceptor

            self._interceptor = TracingInterceptor(self.provider.get_tracer("temporalio"))
        return [self._interceptor]

    @contextmanager
    def span(self, name: str, **attributes: str | int | bool) -> Iterator[Span | None]:
        """A span made current for the block (None and nothing done when off)."""
        if self.provider is None:
            yield None
            return
        tracer = self.provider.get_tracer("gastown")
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def shutdown(self) -> None:
        """Send what is buffered (a short-lived CLI would otherwise lose its spans)."""
        if self.provider is not None:
            self.provider.shutdown()

    async def shutdown_async(self, bound: float) -> None:
        """`shutdown` off the event loop, waited for at most `bound` seconds: the export may
        take its whole timeout against a collector that is down, and the loop still has
        connections to close. A daemon thread rather than `asyncio.to_thread`: `asyncio.run`
        joins the default executor's threads at exit, which would wait for the export anyway."""
        if self.provider is None:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def run() -> None:
            try:
                self.shutdown()
            finally:
                # A closed loop raises RuntimeError: nobody waits any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(finished)

        threading.Thread(target=run, name="tracing-shutdown", daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.shield(done), bound)
        except TimeoutError:
            log.warning("trace export did not finish within %ss; its spans are dropped", bound)


OFF = Tracing()


def from_env(
    service_name: str, env: Mapping[str, str] | None = None, *, export_timeout: float | None = None
) -> Tracing:
    """The Tracing the environment asks for; `service_name` unless OTEL_SERVICE_NAME says.
    `export_timeout`: seconds an export may take unless OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT
    says (the CLI's: a collector that is down must not hold a command for the SDK's 10 s)."""
    env = os.environ if env is None else env
    if not enabled(env):
        return Tracing()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = traces_endpoint(env)
    assert endpoint is not None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    ) or "http/protobuf"
    if protocol != "http/protobuf":
        log.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; using http/protobuf", protocol
        )
    name = (env.get("OTEL_SERVICE_NAME") or "").strip() or service_name
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES (from os.environ).
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    timeout_set = env.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or env.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    exporter = (
        OTLPSpanExporter(endpoint=endpoint, timeout=export_timeout)
        if export_timeout is not None and not timeout_set
        else OTLPSpanExporter(endpoint=endpoint)
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    pod = (env.get("GASTOWN_POD_OTLP_TRACES_ENDPOINT") or "").strip() or endpoint
    return Tracing(provider=provider, endpoint=endpoint, pod_endpoint=credential_free(pod))
