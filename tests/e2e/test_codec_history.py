"""Nothing sensitive at rest in Temporal (issue 13): a real sling through `kubectl gt`, the
real Temporal dev server and our worker. With the payload codec on, the raw history (read
by a client without the codec) holds neither the task text nor a literal env value, and a
client with the key decodes it; without the codec the task text is still not in history:
the activity that writes the task ConfigMap reads it from the Polecat.

The key file sets strict mode (`requireEncryption`): the sling succeeds under it, every
payload bound to its workflow (format 2), and a polecat workflow started in plaintext by a
client without the key runs nothing."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from gastown.api.identity import polecat_workflow_id, task_configmap_name
from gastown.codec import ENCODING, FORMAT_METADATA, NAMESPACE_METADATA, WORKFLOW_ID_METADATA
from gastown.kube import Kube
from gastown.service.worker import WorkerOptions, build_worker
from gastown.workflows.messages import PolecatInput
from tests.codec.keys import codec_converter, new_key, write_key_file
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import DEMO_AGENT, TEST_DEFAULTS, Result, gt_runner


@pytest.fixture
def key_file(workdir: Path) -> Path:
    return write_key_file(
        workdir / "codec.json", "k2", {"k1": new_key(), "k2": new_key()}, strict=True
    )


@pytest.fixture
async def codec_client(temporal: TemporalDev, key_file: Path) -> Client:
    converter = codec_converter(key_file)
    return await Client.connect(
        temporal.address, namespace=temporal.namespace, data_converter=converter
    )


@pytest.fixture
async def plain_client(temporal: TemporalDev) -> Client:
    return await Client.connect(
        temporal.address, namespace=temporal.namespace, data_converter=pydantic_data_converter
    )


async def _worker(temporal_client: Client, kube: Kube) -> AsyncIterator[Worker]:
    queue = f"gastown-{secrets.token_hex(4)}"
    w = build_worker(temporal_client, queue, kube, TEST_DEFAULTS, WorkerOptions())
    async with w:
        yield w


# Payloads the data converter's codec never sees: Temporal indexes search attributes, and
# the SDK leaves headers and memos to the converter without its codec or not at all. They
# are still searched for the task text and env value, as raw bytes, with everything else.
NOT_CODEC_FIELDS = frozenset({"search_attributes", "header", "memo"})


def _payloads(message: Any) -> list[Payload]:
    """Every Payload the codec encodes anywhere in a history event (inputs, results,
    local activity markers, failures' details)."""
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None or field.name in NOT_CODEC_FIELDS:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items = list(value.values())
        elif hasattr(value, "ListFields"):  # one message, not a repeated field
            items = [value]
        else:
            items = list(value)
        for item in items:
            found.extend([item] if isinstance(item, Payload) else _payloads(item))
    return found


async def _sling(
    cluster: Cluster,
    temporal: TemporalDev,
    worker: Worker,
    namespace: str,
    rig: str,
    name: str,
    task: str,
    monkeypatch: pytest.MonkeyPatch,
    key_file: Path | None,
) -> Result:
    if key_file is None:
        monkeypatch.delenv("GASTOWN_CODEC_KEY_FILE", raising=False)
    else:
        monkeypatch.setenv("GASTOWN_CODEC_KEY_FILE", str(key_file))
    gt = gt_runner(cluster, temporal, worker.task_queue, namespace, seed="1")
    run: Callable[..., Awaitable[Result]] = gt
    return await run(
        "sling",
        "dm-0001",
        rig,
        "--name",
        name,
        "--agent",
        "command",
        "--task",
        task,
        "--wait",
        "--timeout",
        "120",
    )


async def test_with_the_codec_history_holds_no_task_text_and_no_env_value(
    cluster: Cluster,
    temporal: TemporalDev,
    namespace: str,
    kube: Kube,
    pod_tools: Path,
    rig_factory: Callable[..., str],
    key_file: Path,
    codec_client: Client,
    plain_client: Client,
    core: client.CoreV1Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = f"task-text-{secrets.token_hex(8)}"
    env_value = f"env-value-{secrets.token_hex(8)}"
    rig = rig_factory(
        agentConfig={"command": DEMO_AGENT, "env": [{"name": "MY_SETTING", "value": env_value}]}
    )
    async for worker in _worker(codec_client, kube):
        result = await _sling(
            cluster, temporal, worker, namespace, rig, "furiosa", task, monkeypatch, key_file
        )
        assert result.code == 0, (result.out, result.err)

    # The task still reached the pod: the ConfigMap the activity wrote from the CR.
    cm = core.read_namespaced_config_map(task_configmap_name("furiosa"), namespace)
    assert task in "".join((cm.data or {}).values())

    workflow_id = polecat_workflow_id(namespace, "furiosa")
    raw = await plain_client.get_workflow_handle(workflow_id).fetch_history()
    payloads = [p for event in raw.events for p in _payloads(event)]
    assert payloads, "the history has payloads"
    for event in raw.events:
        blob = event.SerializeToString()
        assert task.encode() not in blob, event
        assert env_value.encode() not in blob, event
    # Every payload the codec sees is encrypted under the primary key: none left in clear
    # but the SDK core's own marker bookkeeping (a local activity's sequence number, type,
    # attempt and times; a patch's ID), which never holds an argument or a result: every
    # marker detail but "result", the local activity's result, which is encrypted.
    bookkeeping = [
        p.SerializeToString()
        for e in raw.events
        if e.HasField("marker_recorded_event_attributes")
        for key, details in e.marker_recorded_event_attributes.details.items()
        if key != "result"
        for p in details.payloads
    ]
    assert bookkeeping, "the worker's Kubernetes calls are local activities"
    in_clear = [
        p
        for p in payloads
        if p.metadata["encoding"] != ENCODING and p.SerializeToString() not in bookkeeping
    ]
    assert in_clear == []
    payloads = [p for p in payloads if p.metadata["encoding"] == ENCODING]
    assert {p.metadata["encryption-key-id"] for p in payloads} == {b"k2"}
    assert {p.metadata[FORMAT_METADATA] for p in payloads} == {b"2"}
    assert {p.metadata.get(NAMESPACE_METADATA) for p in payloads} == {temporal.namespace.encode()}
    # Bound to this workflow, or to none where the SDK names none (the start's summary).
    assert {p.metadata.get(WORKFLOW_ID_METADATA) for p in payloads} <= {
        workflow_id.encode(),
        None,
    }
    started = raw.events[0].workflow_execution_started_event_attributes
    (inp,) = started.input.payloads
    assert inp.metadata["encoding"] == ENCODING
    assert inp.metadata["encryption-key-id"] == b"k2"

    # With the key, everything decodes: the input is the polecat's identity, and the env
    # value is in the history, encrypted (the resolved spec).
    converter = codec_client.data_converter
    (polecat,) = await converter.decode([inp], [PolecatInput])
    assert (polecat.namespace, polecat.name) == (namespace, "furiosa")
    clear = await converter.payload_codec.decode(payloads)  # type: ignore[union-attr]
    assert any(env_value.encode() in p.data for p in clear)
    assert not any(task.encode() in p.data for p in clear)


async def test_without_the_codec_the_task_text_is_not_in_history(
    cluster: Cluster,
    temporal: TemporalDev,
    namespace: str,
    kube: Kube,
    pod_tools: Path,
    rig_factory: Callable[..., str],
    plain_client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = f"task-text-{secrets.token_hex(8)}"
    env_value = f"env-value-{secrets.token_hex(8)}"
    rig = rig_factory(
        agentConfig={"command": DEMO_AGENT, "env": [{"name": "MY_SETTING", "value": env_value}]}
    )
    async for worker in _worker(plain_client, kube):
        result = await _sling(
            cluster, temporal, worker, namespace, rig, "nux", task, monkeypatch, None
        )
        assert result.code == 0, (result.out, result.err)
    handle = plain_client.get_workflow_handle(polecat_workflow_id(namespace, "nux"))
    blobs = [event.SerializeToString() for event in (await handle.fetch_history()).events]
    assert not any(task.encode() in blob for blob in blobs)
    # What the codec is for: a literal env value is in the resolved spec, in clear without it
    # (docs/codec.md says so).
    assert any(env_value.encode() in blob for blob in blobs)


async def test_strict_mode_runs_nothing_a_client_without_the_key_starts(
    temporal: TemporalDev,
    namespace: str,
    kube: Kube,
    codec_client: Client,
    plain_client: Client,
    core: client.CoreV1Api,
) -> None:
    """Someone who may start workflows but holds no key sends a polecat's input in plaintext:
    the strict worker fails the workflow task, naming why, and nothing runs (no activity, no
    local activity, no pod)."""
    from temporalio.converter import WorkflowSerializationContext

    from gastown.workflows import contract

    workflow_id = polecat_workflow_id(namespace, "slipped")
    async for worker in _worker(codec_client, kube):
        handle = await plain_client.start_workflow(
            contract.POLECAT_WORKFLOW,
            PolecatInput(namespace=namespace, name="slipped", uid="0000-1111"),
            id=workflow_id,
            task_queue=worker.task_queue,
        )
        deadline = time.monotonic() + 60
        failed = None
        while failed is None:
            assert time.monotonic() < deadline, "the strict worker did not fail the task"
            history = await handle.fetch_history()
            failed = next(
                (e for e in history.events if e.HasField("workflow_task_failed_event_attributes")),
                None,
            )
            if failed is None:
                await asyncio.sleep(0.1)
        await handle.terminate()
    kinds = {e.WhichOneof("attributes") for e in (await handle.fetch_history()).events}
    assert not kinds & {
        "activity_task_scheduled_event_attributes",
        "marker_recorded_event_attributes",
        "start_child_workflow_execution_initiated_event_attributes",
    }, kinds
    context = WorkflowSerializationContext(namespace=temporal.namespace, workflow_id=workflow_id)
    error = await codec_client.data_converter.with_context(context).decode_failure(
        failed.workflow_task_failed_event_attributes.failure
    )
    assert "not encrypted (encoding 'json/plain')" in str(error)
    assert "requireEncryption" in str(error)
    assert core.list_namespaced_pod(namespace).items == []


async def test_a_convoy_runs_under_strict_mode(
    cluster: Cluster,
    temporal: TemporalDev,
    namespace: str,
    kube: Kube,
    pod_tools: Path,
    rig_factory: Callable[..., str],
    key_file: Path,
    codec_client: Client,
    plain_client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The paths between workflows with format 2's binding, in gastown's own workflows: the
    CLI starts a convoy and queries it, the convoy starts its polecats as child workflows, the
    polecats and the convoy signal the rig's slot workflow and each other, activities start
    workflows. All under strict mode: everything decodes where it is read."""
    from gastown.api.identity import convoy_workflow_id, rig_slots_workflow_id

    rig = rig_factory(agentConfig={"command": DEMO_AGENT})
    monkeypatch.setenv("GASTOWN_CODEC_KEY_FILE", str(key_file))
    async for worker in _worker(codec_client, kube):
        gt = gt_runner(cluster, temporal, worker.task_queue, namespace, seed="2")
        result = await gt(
            "convoy",
            "create",
            "Two demo beads",
            "dm-0001",
            "dm-0002",
            "--rig",
            rig,
            "--agent",
            "command",
            "--parallelism",
            "1",
            "--wait",
            "--timeout",
            "5m",
            timeout=330,
        )
        assert result.code == 0, (result.out, result.err)
        assert "Progress:    2/2 (100%)" in result.out
        name = next(
            line.split()[1] for line in result.out.splitlines() if line.startswith("Convoy ")
        )
        ids = [convoy_workflow_id(namespace, name), rig_slots_workflow_id(rig, worker.task_queue)]
    crossings = {
        ids[0]: "start_child_workflow_execution_initiated_event_attributes",
        ids[1]: "workflow_execution_signaled_event_attributes",
    }
    for workflow_id in ids:
        raw = await plain_client.get_workflow_handle(workflow_id).fetch_history()
        kinds = {e.WhichOneof("attributes") for e in raw.events}
        assert crossings[workflow_id] in kinds, (workflow_id, kinds)
        bound = {
            (p.metadata["encoding"], p.metadata.get(FORMAT_METADATA))
            for e in raw.events
            if not e.HasField("marker_recorded_event_attributes")
            for p in _payloads(e)
        }
        assert bound == {(ENCODING, b"2")}, (workflow_id, bound)
