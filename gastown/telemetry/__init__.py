"""Traces and structured logs for the processes we run: the CLI, the worker, the watcher.

`tracing` builds a tracer provider from the standard `OTEL_*` variables (nothing at all when
no endpoint is set), `podenv` hands the current trace context to a polecat pod, `logs` is the
JSON-or-readable log format, `logcontext` the fields a log line carries. The in-pod runtime
has its own tiny exporter (gastown/runtime/tracing.py): it may import only stdlib and pydantic.
"""
