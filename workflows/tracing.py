"""The trace a workflow belongs to, read from its start header: deterministic, no I/O.

temporalio's TracingInterceptor carries the starter's span (the `kubectl gt sling` or
`convoy create` trace, or the convoy's for its polecats) in the workflow's `_tracer-data`
header as a W3C `traceparent`. The header is part of the start event, so every replay reads
the same value; a workflow started without tracing has none and shows none. Shown in the
Temporal UI's current details and recorded on the Polecat, so one can jump to the trace from
either.
"""

from __future__ import annotations

import re

from temporalio import workflow
from temporalio.converter import PayloadConverter

# temporalio.contrib.opentelemetry's header key (TracingInterceptor.header_key).
HEADER = "_tracer-data"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$")


def trace_id_of(traceparent: object) -> str | None:
    """The trace ID of a sampled traceparent: a sampled-out trace is recorded nowhere, so
    there is nothing to point at."""
    m = _TRACEPARENT.match(traceparent.strip().lower()) if isinstance(traceparent, str) else None
    if m is None or set(m.group(1)) == {"0"} or not int(m.group(2), 16) & 1:
        return None
    return m.group(1)


def trace_id() -> str | None:
    """This workflow's trace ID (32 hex digits), or None when it was started untraced."""
    payload = workflow.info().headers.get(HEADER)
    if payload is None:
        return None
    try:
        carrier = PayloadConverter.default.from_payloads([payload])[0]
    except Exception:  # a header we cannot read is no trace, never a failed task
        return None
    return trace_id_of(carrier.get("traceparent")) if isinstance(carrier, dict) else None
