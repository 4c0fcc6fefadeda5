"""Activity arguments an older worker still accepts during a rolling upgrade."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.workflows.messages import EnsureRequest, Message, Resolved


class _EnsureRequestBeforeTraces(Message):
    """EnsureRequest as a worker from before `trace_id` knew it."""

    resolved: Resolved
    workflow_id: str
    run_id: str


def _resolved() -> Resolved:
    return Resolved(
        namespace="ns",
        name="nux",
        rig="demo",
        bead_id="dm-1",
        repo_url="https://example.com/r.git",
        base_branch="main",
        work_branch="polecat/nux",
        image="img",
        agent="claude",
        active_deadline_seconds=60,
        pending_timeout_seconds=60,
        image_pull_grace_seconds=60,
        max_attempts=1,
        backoff_seconds=1,
        succeeded_pod_ttl_seconds=60,
        failed_pod_ttl_seconds=60,
    )


async def _wire(req: EnsureRequest) -> dict[str, object]:
    (payload,) = await pydantic_data_converter.encode([req])
    doc: dict[str, object] = json.loads(payload.data)
    return doc


async def test_an_untraced_ensure_request_is_accepted_by_an_older_worker() -> None:
    req = EnsureRequest(resolved=_resolved(), workflow_id="w", run_id="r")
    doc = await _wire(req)
    assert "trace_id" not in doc
    _EnsureRequestBeforeTraces.model_validate(doc)
    (back,) = await pydantic_data_converter.decode(
        await pydantic_data_converter.encode([req]), [EnsureRequest]
    )
    assert back == req


async def test_a_traced_ensure_request_keeps_its_trace_and_a_recorded_null_still_parses() -> None:
    req = EnsureRequest(resolved=_resolved(), workflow_id="w", run_id="r", trace_id="ab" * 16)
    doc = await _wire(req)
    assert doc["trace_id"] == "ab" * 16
    with pytest.raises(ValidationError):
        _EnsureRequestBeforeTraces.model_validate(doc)  # expected: a traced run needs new workers
    assert EnsureRequest.model_validate({**doc, "trace_id": None}).trace_id is None
