"""Log lines for the worker and the watcher: JSON for machines, one readable line for people.

JSON when stderr is not a terminal (a pod's log, a file, a collector), a readable line when it
is; `GASTOWN_LOG_FORMAT=json|text` overrides the guess. Every line carries what is known of
its context — workflow and run IDs, polecat, rig, bead, convoy, the activity, and the trace
and span IDs of the current span — so a line leads to its trace and its trace to the lines.
Messages, fields and tracebacks go through the runtime's redaction (registered secret values
and credentials in URLs become ***), the same scrubbing as everything a pod prints, then
through well-known token shapes: a value nobody registered (a library quoting a token) is
still not printed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

from gastown.runtime.redact import redact as redact_registered
from gastown.telemetry import logcontext

# Well-known token shapes, scrubbed even when nobody registered the value (a token quoted by
# a library's exception, a Secret's document in an error body).
_SHAPES = (
    (re.compile(r"sk-ant-[A-Za-z0-9_-]{6,}"), "sk-ant-***"),
    (re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1***"),
    (
        re.compile(
            r"(?i)([\"']?(?:access_token|refresh_token|accessToken|refreshToken|api_key|apiKey)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\"'\s,}]+"
        ),
        r"\1***",
    ),
)


def redact(text: str) -> str:
    """Registered secrets and URL credentials (the runtime's redaction), then the token
    shapes above."""
    text = redact_registered(text)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


# Fields in the order a reader wants them; the JSON keys are these names.
CONTEXT = (
    "workflow_id",
    "run_id",
    "namespace",
    "polecat",
    "convoy",
    "rig",
    "bead",
    "activity",
    "trace_id",
    "span_id",
)


def _trace_fields() -> dict[str, str]:
    """The current span's IDs (only when one is valid; opentelemetry's API costs a lookup)."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


def context_of(record: logging.LogRecord) -> dict[str, str]:
    """Everything known of where this record was written."""
    fields: dict[str, str] = dict(logcontext.current())
    wf = getattr(record, "temporal_workflow", None)
    if isinstance(wf, dict):
        wid = str(wf.get("workflow_id") or "")
        fields.setdefault("workflow_id", wid)
        fields.setdefault("run_id", str(wf.get("run_id") or ""))
        for key, value in logcontext.from_workflow_id(wid).items():
            fields.setdefault(key, value)
    act = getattr(record, "temporal_activity", None)
    if isinstance(act, dict):
        fields.setdefault("workflow_id", str(act.get("workflow_id") or ""))
        fields.setdefault("activity", str(act.get("activity_type") or ""))
    for key in CONTEXT:  # explicit extra=… wins
        extra = getattr(record, key, None)
        if isinstance(extra, str) and extra:
            fields[key] = extra
    for key, value in _trace_fields().items():
        fields.setdefault(key, value)
    return {k: redact(fields[k]) for k in CONTEXT if fields.get(k)}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **context_of(record),
        }
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`12:00:01 INFO gastown.worker: message  polecat=furiosa rig=r trace=4bf9…`"""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {redact(record.getMessage())}"
        fields = context_of(record)
        fields.pop("run_id", None)
        fields.pop("span_id", None)
        if "trace_id" in fields:
            fields["trace"] = fields.pop("trace_id")
        if fields:
            line += "  " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def wants_json(stream: IO[str], env: dict[str, str] | None = None) -> bool:
    choice = ((env if env is not None else os.environ).get("GASTOWN_LOG_FORMAT") or "").lower()
    if choice in ("json", "text"):
        return choice == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def setup(level: str, stream: IO[str] | None = None) -> None:
    """The process's logging: one handler on stderr, this level, JSON or text (see above).
    A bad level raises ValueError naming it."""
    if not isinstance(logging.getLevelName(level.upper()), int):
        raise ValueError(f"unknown level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    as_json = wants_json(out)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    if as_json:
        # The SDK appends the workflow's or activity's info to the message text; in JSON
        # those are fields already.
        from temporalio import activity, workflow

        activity.logger.activity_info_on_message = False
        workflow.logger.workflow_info_on_message = False
