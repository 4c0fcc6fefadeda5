"""What a log line is about: workflow, polecat, rig, bead. Bound once per activity.

An activity's log lines (ours, the SDK's, gastown.kube's) carry the workflow and run IDs and,
when its input names one (`resolved`: the polecat's resolved spec), the polecat, rig and bead,
without every `log.info` passing them. Workflow code logs through `workflow.logger`, whose
records already carry the workflow's identity (temporalio's `temporal_workflow` extra).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

_fields: ContextVar[Mapping[str, str] | None] = ContextVar("gastown_log_fields", default=None)


def current() -> Mapping[str, str]:
    return _fields.get() or {}


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Add fields to every log line written in this block (and the tasks it starts)."""
    merged = {**current(), **{k: v for k, v in fields.items() if v}}
    token = _fields.set(merged)
    try:
        yield
    finally:
        _fields.reset(token)


def from_workflow_id(workflow_id: str) -> dict[str, str]:
    """`polecat/<ns>/<name>` and `convoy/<ns>/<name>` say what they are about."""
    kind, _, rest = workflow_id.partition("/")
    namespace, _, name = rest.partition("/")
    if kind in ("polecat", "convoy") and namespace and name and "/" not in name:
        return {"namespace": namespace, kind: name}
    return {}


def from_input(args: Any) -> dict[str, str]:
    """The polecat, rig and bead an activity's input names, if it names them."""
    for arg in args:
        resolved = getattr(arg, "resolved", None)
        if resolved is None:
            continue
        fields = {
            "polecat": getattr(resolved, "name", None),
            "rig": getattr(resolved, "rig", None),
            "bead": getattr(resolved, "bead_id", None),
            "convoy": getattr(resolved, "convoy", None),
        }
        return {k: str(v) for k, v in fields.items() if isinstance(v, str) and v}
    return {}


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        fields = {
            "workflow_id": info.workflow_id or "",
            "run_id": info.workflow_run_id or "",
            "activity": info.activity_type,
            **from_workflow_id(info.workflow_id or ""),
            **from_input(input.args),
        }
        with bind(**fields):
            return await self.next.execute_activity(input)


class LogContextInterceptor(Interceptor):
    """Binds each activity's identity for its log lines (see module doc)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
