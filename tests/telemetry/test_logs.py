"""The worker's and watcher's log format: JSON fields, context, redaction, terminal text."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider

from gastown.runtime import redact
from gastown.telemetry import logcontext, logs


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("gastown.worker", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_line_has_the_fields_and_the_bound_context() -> None:
    with logcontext.bind(
        **logcontext.from_workflow_id("polecat/team-a/furiosa"), rig="demo", bead="dm-1"
    ):
        line = logs.JsonFormatter().format(record("pod %s created", "polecat-furiosa-1"))
    doc = json.loads(line)
    assert doc["level"] == "INFO"
    assert doc["logger"] == "gastown.worker"
    assert doc["message"] == "pod polecat-furiosa-1 created"
    assert doc["polecat"] == "furiosa" and doc["namespace"] == "team-a"
    assert doc["rig"] == "demo" and doc["bead"] == "dm-1"
    assert doc["time"].endswith("+00:00")
    assert "trace_id" not in doc  # no span is current


def test_json_line_carries_the_current_trace() -> None:
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as span:
        doc = json.loads(logs.JsonFormatter().format(record("hello")))
    ctx = span.get_span_context()
    assert doc["trace_id"] == format(ctx.trace_id, "032x")
    assert doc["span_id"] == format(ctx.span_id, "016x")


def test_temporal_extras_become_fields() -> None:
    wf = {"workflow_id": "convoy/ns/auth-x", "run_id": "r-1", "workflow_type": "ConvoyWorkflow"}
    doc = json.loads(logs.JsonFormatter().format(record("m", temporal_workflow=wf)))
    assert (doc["workflow_id"], doc["run_id"], doc["convoy"]) == (
        "convoy/ns/auth-x",
        "r-1",
        "auth-x",
    )
    act = {"workflow_id": "polecat/ns/nux", "activity_type": "launch_pod"}
    doc = json.loads(logs.JsonFormatter().format(record("m", temporal_activity=act)))
    assert doc["activity"] == "launch_pod" and doc["workflow_id"] == "polecat/ns/nux"


def test_secrets_never_reach_a_line() -> None:
    token = "sk-ant-oat01-secret-value-123"
    redact.register(token)
    try:
        rec = record(
            "refresh with %s failed at https://user:pa55word@example.com/x",
            token,
            rig=f"rig-{token}",
        )
        try:
            raise RuntimeError(f"boom {token}")
        except RuntimeError:
            rec.exc_info = sys.exc_info()
        for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
            line = formatter.format(rec)
            assert token not in line and "pa55word" not in line
            assert "***" in line
    finally:
        redact._secrets.discard(token)


def test_text_line_is_readable() -> None:
    with logcontext.bind(polecat="furiosa", rig="demo"):
        line = logs.TextFormatter().format(record("started"))
    assert " INFO    gastown.worker: started  polecat=furiosa rig=demo" in line
    assert not line.startswith("{")


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, False, True),
        ({}, True, False),
        ({"GASTOWN_LOG_FORMAT": "text"}, False, False),
        ({"GASTOWN_LOG_FORMAT": "json"}, True, True),
    ],
)
def test_json_unless_a_terminal(env: dict[str, str], tty: bool, expected: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert logs.wants_json(Stream(), env) is expected


def test_input_naming_a_polecat_binds_it() -> None:
    class Resolved:
        name, rig, bead_id, convoy = "nux", "demo", "dm-2", None

    class Req:
        resolved = Resolved()

    assert logcontext.from_input([Req()]) == {"polecat": "nux", "rig": "demo", "bead": "dm-2"}
    assert logcontext.from_input(["plain"]) == {}


def test_a_bad_level_is_a_usage_error() -> None:
    import subprocess
    from pathlib import Path

    exe = Path(sys.executable).parent / "gastown-operator"
    out = subprocess.run(
        [str(exe), "worker", "--log-level", "chatty"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "--log-level (GASTOWN_LOG_LEVEL): unknown level 'chatty'" in out.stderr
    assert "Traceback" not in out.stderr
