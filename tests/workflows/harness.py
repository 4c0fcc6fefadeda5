"""A worker per test on the shared time-skipping server, playing a Script.

Each test gets its own task queue, so workers of different tests never take each other's
tasks, and deterministic workflow IDs (from the polecat names the tests choose), so a recorded
history names the same polecat every time it is re-recorded.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gastown.api.identity import convoy_workflow_id, polecat_workflow_id
from gastown.workflows import WORKFLOWS
from gastown.workflows.convoy import ConvoyWorkflow
from gastown.workflows.messages import (
    ConvoyInput,
    ConvoyProgress,
    PolecatInput,
    PolecatResult,
)
from gastown.workflows.polecat import PolecatWorkflow
from tests.workflows.doubles import DEADLINE, HEARTBEAT_EVERY, Doubles, Script

HISTORIES = Path(__file__).resolve().parent.parent / "replay" / "histories"
RECORD = os.environ.get("GASTOWN_RECORD_HISTORY") == "1"


@dataclass
class Harness:
    env: WorkflowEnvironment
    doubles: Doubles
    task_queue: str

    async def start(
        self, inp: PolecatInput, **options: Any
    ) -> WorkflowHandle[PolecatWorkflow, PolecatResult]:
        return await self.env.client.start_workflow(
            PolecatWorkflow.run,
            inp,
            id=polecat_workflow_id(inp.namespace, inp.name),
            task_queue=self.task_queue,
            # A workflow that would hang fails the test instead (the test server's clock, so
            # generous: every durable timer here is shorter).
            execution_timeout=timedelta(days=30),
            **options,
        )

    async def start_convoy(
        self, inp: ConvoyInput, **options: Any
    ) -> WorkflowHandle[ConvoyWorkflow, ConvoyProgress]:
        return await self.env.client.start_workflow(
            ConvoyWorkflow.run,
            inp,
            id=convoy_workflow_id(inp.namespace, inp.name),
            task_queue=self.task_queue,
            execution_timeout=timedelta(days=30),
            **options,
        )

    async def record(self, handle: WorkflowHandle[Any, Any], name: str) -> None:
        """With GASTOWN_RECORD_HISTORY=1, write the closed workflow's history for tests/replay
        (without stack traces: they name this machine's paths and replay ignores them)."""
        if RECORD:
            history = (await handle.fetch_history()).to_json_dict()
            text = json.dumps(_without_stack_traces(history), indent=2)
            (HISTORIES / f"{name}.json").write_text(text + "\n")


def _without_stack_traces(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _without_stack_traces(v) for k, v in doc.items() if k != "stackTrace"}
    if isinstance(doc, list):
        return [_without_stack_traces(v) for v in doc]
    return doc


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, script: Script, workflows: Sequence[type] | None = None
) -> AsyncIterator[Harness]:
    """A worker playing `script`; `workflows` replaces the real ones (a convoy's stand-in
    polecats)."""
    doubles = Doubles(script)
    task_queue = f"wftests-{uuid.uuid4()}"
    throttle = timedelta(seconds=HEARTBEAT_EVERY)
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=list(workflows or WORKFLOWS),
        activities=doubles.activities(),
        # Heartbeats leave at once, so a cancellation reaches a held wait within moments.
        max_heartbeat_throttle_interval=throttle,
        default_heartbeat_throttle_interval=throttle,
        graceful_shutdown_timeout=timedelta(seconds=DEADLINE),
    ):
        try:
            yield Harness(env, doubles, task_queue)
        finally:
            script.release_all()


# What the tests' `harness` fixture hands out, and a polecat's workflow handle.
HarnessFactory = Callable[[Script], AbstractAsyncContextManager[Harness]]
Handle = WorkflowHandle[PolecatWorkflow, PolecatResult]
ConvoyHandle = WorkflowHandle[ConvoyWorkflow, ConvoyProgress]
