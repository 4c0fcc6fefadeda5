"""The trace context a polecat pod is started with, as env vars its runtime reads.

`launch_pod` runs inside its activity's span; that span becomes the parent of the pod's own
spans (clone, agent, commit, push, PR), so the pod joins the sling's trace. Computed in the
activity, never in the workflow: the workflow stays deterministic and its history unchanged.
The env carries the W3C `traceparent` and where to send spans, never an exporter's headers
(they may hold an API key, and a pod's spec is readable by whoever can read the pod).
"""

from __future__ import annotations

from typing import Any

from gastown.telemetry.tracing import Tracing

POD_SERVICE_NAME = "gt-polecat"
# Ours, so a user's agent env of the same name cannot redirect or detach the pod's spans.
NAMES = ("TRACEPARENT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SERVICE_NAME")


def pod_env(tracing: Tracing) -> list[dict[str, str]]:
    """`TRACEPARENT` and the OTLP endpoint for the pod, or nothing when tracing is off or no
    span is current."""
    if not tracing.on or not tracing.pod_endpoint:
        return []
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    parent = carrier.get("traceparent")
    if not parent:
        return []
    return [
        {"name": "TRACEPARENT", "value": parent},
        {"name": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "value": tracing.pod_endpoint},
        {"name": "OTEL_SERVICE_NAME", "value": POD_SERVICE_NAME},
    ]


def with_env(pod: dict[str, Any], extra: list[dict[str, str]]) -> dict[str, Any]:
    """The pod with `extra` set in every container (init containers too), replacing entries of
    the same name."""
    if not extra:
        return pod
    names = {e["name"] for e in extra}
    spec = pod["spec"]
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            kept = [e for e in container.get("env") or [] if e["name"] not in names]
            container["env"] = kept + [dict(e) for e in extra]
    return pod
