"""How the workflows make a short Kubernetes call: as a local activity, found by name."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from gastown.workflows import contract as c


async def short_call(name: str, arg: Any, result_type: type[Any] | None = None) -> Any:
    """A short Kubernetes call, as a local activity: it runs inside the workflow task and
    leaves one marker in history instead of three events and a workflow task of its own (the
    polecat's happy path shrank from 63 events to the count in docs/benchmarks.md). Retries
    and non-retryable errors work as for any activity; what waits long (a pod, a polecat's
    nuke) is a regular activity instead."""
    return await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=c.API_TIMEOUT,
        retry_policy=c.API_RETRY,
    )
