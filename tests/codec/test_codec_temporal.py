"""Format 2's binding and strict mode against the real SDK and a real Temporal dev server:
a payload crosses from the client to a workflow (start, signal, query, update), from a
workflow to its activities and local activities and back (results, a failure), to a child
workflow and from one workflow to another (an external signal); every one is bound to the
workflow it is for and decodes there, under strict mode. A workflow started in plaintext by a
client without the key, with a ciphertext copied from another workflow's history, or by a
schedule (its ID is the schedule's plus the nominal time), runs nothing: its workflow task
fails, naming why."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import WorkflowSerializationContext
from temporalio.worker import Worker

from gastown.codec import ENCODING, FORMAT_METADATA, NAMESPACE_METADATA, WORKFLOW_ID_METADATA
from tests.codec import bindingflows as flows
from tests.codec.keys import codec_converter, new_key, write_key_file
from tests.conftest import TemporalDev


@pytest.fixture
async def strict_client(temporal: TemporalDev, tmp_path: Path) -> Client:
    key_file = write_key_file(tmp_path / "codec.json", "k1", {"k1": new_key()}, strict=True)
    return await Client.connect(
        temporal.address, namespace=temporal.namespace, data_converter=codec_converter(key_file)
    )


@pytest.fixture
async def plain_client(temporal: TemporalDev) -> Client:
    return await Client.connect(
        temporal.address, namespace=temporal.namespace, data_converter=pydantic_data_converter
    )


@pytest.fixture
async def worker(strict_client: Client) -> AsyncIterator[Worker]:
    w = Worker(
        strict_client,
        task_queue=f"codec-{secrets.token_hex(4)}",
        workflows=[flows.Parent, flows.Child, flows.Signaller],
        activities=[flows.echo],
    )
    async with w:
        yield w


def _event_payloads(event: HistoryEvent) -> list[Payload]:
    """The input / result payloads of the events that carry them."""
    kind = event.WhichOneof("attributes")
    attributes: Any = getattr(event, kind) if kind else None
    if kind in (
        "workflow_execution_started_event_attributes",
        "activity_task_scheduled_event_attributes",
        "start_child_workflow_execution_initiated_event_attributes",
        "workflow_execution_signaled_event_attributes",
        "signal_external_workflow_execution_initiated_event_attributes",
    ):
        return list(attributes.input.payloads)
    if kind in (
        "activity_task_completed_event_attributes",
        "workflow_execution_completed_event_attributes",
    ):
        return list(attributes.result.payloads)
    return []


def _bound(payload: Payload) -> tuple[bytes, bytes, bytes, bytes]:
    m = payload.metadata
    return (
        m["encoding"],
        m[FORMAT_METADATA],
        m.get(NAMESPACE_METADATA, b""),
        m.get(WORKFLOW_ID_METADATA, b""),
    )


async def _bindings(client: Client, workflow_id: str) -> dict[str, set[tuple[bytes, ...]]]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found: dict[str, set[tuple[bytes, ...]]] = {}
    for event in history.events:
        kind = event.WhichOneof("attributes") or ""
        for payload in _event_payloads(event):
            found.setdefault(kind.removesuffix("_event_attributes"), set()).add(_bound(payload))
    return found


async def test_every_path_between_workflows_decodes_under_strict_mode(
    strict_client: Client, worker: Worker, temporal: TemporalDev
) -> None:
    ns = temporal.namespace.encode()
    parent_id = f"codec-parent-{secrets.token_hex(4)}"
    handle = await strict_client.start_workflow(
        flows.Parent.run, "in", id=parent_id, task_queue=worker.task_queue
    )
    assert await handle.execute_update("set", "u") == "updated:u"
    await strict_client.execute_workflow(
        flows.Signaller.run,
        args=[parent_id, "hi"],
        id=f"{parent_id}-signaller",
        task_queue=worker.task_queue,
    )
    assert await handle.result() == [
        "in",
        "echo:in",
        "echo:local:in",
        "echo:child:in",
        "activity failed on purpose",
        "poked:hi",
        "updated:u",
    ]
    assert await handle.query("state") == {"poked": "hi", "updated": "u"}

    enc, v2 = ENCODING, b"2"
    parent = await _bindings(strict_client, parent_id)
    mine = {(enc, v2, ns, parent_id.encode())}
    child = {(enc, v2, ns, f"{parent_id}-child".encode())}
    assert parent["workflow_execution_started"] == mine
    assert parent["activity_task_scheduled"] == mine
    assert parent["activity_task_completed"] == mine
    assert parent["start_child_workflow_execution_initiated"] == child
    assert parent["workflow_execution_signaled"] == mine  # sent by the Signaller workflow
    assert parent["workflow_execution_completed"] == mine
    signaller = await _bindings(strict_client, f"{parent_id}-signaller")
    assert signaller["signal_external_workflow_execution_initiated"] == mine
    assert (await _bindings(strict_client, f"{parent_id}-child"))[
        "workflow_execution_started"
    ] == child


async def _task_failure(client: Client, handle: WorkflowHandle[object, object]) -> str:
    """The first workflow task failure's message, decoded with the key; waits for it."""
    deadline = time.monotonic() + 60
    while True:
        history = await handle.fetch_history()
        for event in history.events:
            if event.HasField("workflow_task_failed_event_attributes"):
                failure = event.workflow_task_failed_event_attributes.failure
                context = WorkflowSerializationContext(
                    namespace=client.namespace, workflow_id=handle.id
                )
                error = await client.data_converter.with_context(context).decode_failure(failure)
                kinds = {e.WhichOneof("attributes") for e in history.events}
                assert "activity_task_scheduled_event_attributes" not in kinds
                assert "start_child_workflow_execution_initiated_event_attributes" not in kinds
                return str(error)
        assert time.monotonic() < deadline, "no workflow task failed"
        await asyncio.sleep(0.1)


async def test_strict_mode_runs_nothing_started_in_plaintext(
    strict_client: Client, plain_client: Client, worker: Worker
) -> None:
    handle = await plain_client.start_workflow(
        "CodecParent",
        "plaintext input",
        id=f"codec-plain-{secrets.token_hex(4)}",
        task_queue=worker.task_queue,
    )
    try:
        message = await _task_failure(strict_client, handle)
        assert "not encrypted (encoding 'json/plain')" in message
        assert "requireEncryption" in message
    finally:
        await handle.terminate()


async def test_a_ciphertext_copied_from_another_workflow_is_refused(
    strict_client: Client, plain_client: Client, worker: Worker
) -> None:
    source = f"codec-source-{secrets.token_hex(4)}"
    await strict_client.execute_workflow(
        flows.Child.run, "meant for the source", id=source, task_queue=worker.task_queue
    )
    history = await strict_client.get_workflow_handle(source).fetch_history()
    (stolen,) = history.events[0].workflow_execution_started_event_attributes.input.payloads
    # Started by someone without the key, with the source's ciphertext as it is.
    handle = await plain_client.start_workflow(
        "CodecChild",
        RawValue(stolen),
        id=f"codec-copy-{secrets.token_hex(4)}",
        task_queue=worker.task_queue,
    )
    try:
        message = await _task_failure(strict_client, handle)
        assert f"encrypted for workflow {source!r}" in message
    finally:
        await handle.terminate()


async def test_a_scheduled_workflow_refuses_its_input(
    strict_client: Client, worker: Worker
) -> None:
    """The schedule's action is encoded under the ID it names; the workflow it starts has
    that ID plus the nominal time, so its input is bound to another workflow: refused, and
    nothing runs. gastown starts no schedules; the codec matches workflow IDs exactly."""
    name = f"codec-sched-{secrets.token_hex(4)}"
    schedule = await strict_client.create_schedule(
        name,
        Schedule(
            action=ScheduleActionStartWorkflow(
                flows.Child.run, "s", id=name, task_queue=worker.task_queue
            ),
            spec=ScheduleSpec(),
        ),
        trigger_immediately=True,
    )
    started: str | None = None
    try:
        deadline = time.monotonic() + 60
        while started is None:
            assert time.monotonic() < deadline, "the schedule started no workflow"
            actions = (await schedule.describe()).info.recent_actions
            if actions:
                started = actions[0].action.workflow_id  # type: ignore[attr-defined]
            else:
                await asyncio.sleep(0.1)
        assert started != name and started.startswith(f"{name}-")
        handle = strict_client.get_workflow_handle(started)
        message = await _task_failure(strict_client, handle)
        assert f"encrypted for workflow {name!r}, not {started!r}" in message
    finally:
        if started is not None:
            await strict_client.get_workflow_handle(started).terminate()
        await schedule.delete()
