"""One span per API call, named and labelled from the request line alone.

A span says which verb on which resource in which namespace, and the answer's status code:
never a body, a query string or a header (bodies hold Secrets' data, headers the token). The
caller hands in a tracer (gastown.telemetry); without one no span is made at all. A call made
outside any trace (the watcher's and the informer's own loops) makes none either: a root span
per background call would bury the traces people look for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gastown.kube.calls import Request

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer


def describe(path: str) -> tuple[str, str | None, str | None]:
    """(resource, namespace, subresource) from an API path: `/api/v1/namespaces/ns/pods/x/log`
    → ("pods", "ns", "log"); `/apis/g/v1/rigs` → ("rigs", None, None)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    # Drop the group/version prefix: /api/<v> or /apis/<group>/<v>.
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return (parts[0] if parts else "", None, None)
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        if len(rest) == 2:  # a Namespace object itself
            return "namespaces", None, None
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest else "namespaces"
    sub = rest[2] if len(rest) >= 3 else None
    return resource, namespace, sub


@contextmanager
def call_span(tracer: Tracer | None, request: Request) -> Iterator[Span | None]:
    """The span of one call, current while it runs; None when there is nothing to record."""
    if tracer is None:
        yield None
        return
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().is_valid:
        yield None
        return
    resource, namespace, sub = describe(request.path)
    attributes: dict[str, str] = {
        "http.request.method": request.method,
        "k8s.resource": resource,
    }
    if namespace:
        attributes["k8s.namespace.name"] = namespace
    if sub:
        attributes["k8s.subresource"] = sub
    name = f"{request.method} {resource}" + (f"/{sub}" if sub else "")
    with tracer.start_as_current_span(
        name,
        kind=trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def record_status(span: Span | None, status: int) -> None:
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_status(Status(StatusCode.ERROR))


def record_failure(span: Span | None, error: BaseException) -> None:
    """A call with no answer (connection refused, timeout): the error's type, no message
    (it may quote a URL with credentials)."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", type(error).__name__)
    span.set_status(Status(StatusCode.ERROR))
