"""The Temporal SDK's own Prometheus exporter (`--metrics-bind-address`).

The SDK's Rust core serves `/metrics` on a thread of its own with every series the client and
the worker record (requests, polls, task slots, latencies; names start with `temporal_`) and
ours (`gastown_…`, gastown/workflows/metrics.py): the workflows record through
`workflow.metric_meter()`, the watcher and the Kubernetes boundary through this Runtime's
meter. One Runtime per process, handed to `Client.connect`: the worker and its client share it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from gastown.config import ConfigError
from gastown.kube import observe
from gastown.workflows.metrics import BUCKETS, KUBE_API_ERRORS

OPTION = "--metrics-bind-address (GASTOWN_METRICS_BIND_ADDRESS)"


class MetricsUnavailable(Exception):
    """The exporter could not start (the port is taken, the address is not this host's)."""


def check_bind_address(value: str) -> str:
    """`host:port` (IPv6 in brackets, `0.0.0.0:9090` for all interfaces), as the SDK binds it."""
    host, sep, port = value.rpartition(":")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        valid_host = True
    except ValueError:
        valid_host = False
    if not (sep and port.isdigit() and 0 < int(port) < 65536 and valid_host):
        raise ConfigError(
            f"{OPTION}: {value!r} is not an IP address and port, e.g. 0.0.0.0:9090 "
            "(all interfaces) or 127.0.0.1:9090"
        )
    return value


def metrics_runtime(bind_address: str) -> Runtime:
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=bind_address,
                    histogram_bucket_overrides={k: list(v) for k, v in BUCKETS.items()},
                )
            )
        )
    except Exception as exc:
        raise MetricsUnavailable(f"cannot serve metrics on {bind_address}: {exc}") from None


def meter(runtime: Runtime | None) -> MetricMeter:
    """The process's meter: the exporter's, or one that records nothing when metrics are off."""
    return runtime.metric_meter if runtime is not None else MetricMeter.noop


def count_api_errors(runtime: Runtime | None) -> Callable[[], None]:
    """Count failed Kubernetes API calls (gastown.kube's one hook) by verb and code; returns
    the function that stops counting."""
    if runtime is None:
        return lambda: None
    counter = runtime.metric_meter.create_counter(
        KUBE_API_ERRORS, "Kubernetes API calls that failed, by verb and HTTP code (none: no answer)"
    )
    return observe.on_api_error(lambda verb, code: counter.add(1, {"verb": verb, "code": code}))
