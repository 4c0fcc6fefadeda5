"""`gastown-operator worker --codec-key-file`, the process the chart runs with
`codec.keySecret` (here in strict mode): it reads what a client with the same key file wrote
(an encrypted PolecatWorkflow input: only the input names the polecat) and writes back only
ciphertext. The polecat named does not exist, so the workflow fails at once, and even its
failure message is encrypted."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from gastown.api.identity import polecat_workflow_id
from gastown.codec import ENCODING, KEY_ID_METADATA, WORKFLOW_ID_METADATA
from gastown.operator.workflow import Workflows
from tests.codec.keys import codec_converter, new_key, write_key_file
from tests.conftest import Cluster, TemporalDev
from tests.operator.conftest import apply, polecat_doc
from tests.service.processes import operator


@dataclass
class Seen:
    name: str
    message: str  # the failure as the client with the key reads it
    raw: list[bytes]  # every event as stored
    failure_key_id: bytes


async def _ghost(address: str, key_file: Path, queue: str) -> Seen:
    client = await Client.connect(address, data_converter=codec_converter(key_file))
    name = f"ghost-{secrets.token_hex(3)}"
    await Workflows(client, queue).start("default", name, "no-such-uid", datetime.now(UTC))
    handle = client.get_workflow_handle(polecat_workflow_id("default", name))
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    plain = await Client.connect(address, data_converter=pydantic_data_converter)
    raw = (await plain.get_workflow_handle(handle.id).fetch_history()).events
    failure = raw[-1].workflow_execution_failed_event_attributes.failure
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    return Seen(
        name,
        str(failed.value.cause),
        [e.SerializeToString() for e in raw],
        failure.encoded_attributes.metadata[KEY_ID_METADATA],
    )


def test_the_worker_process_decodes_and_encodes_with_the_key_file(
    temporal: TemporalDev, cluster: Cluster, tmp_path: Path
) -> None:
    key_file = write_key_file(tmp_path / "keys.json", "k7", {"k7": new_key()}, strict=True)
    queue = f"codec-{secrets.token_hex(3)}"
    log = tmp_path / "worker.log"
    env = {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": temporal.address}
    args = ["--task-queue", queue, "--codec-key-file", str(key_file)]
    with operator("worker", args, env, log) as proc:
        seen = asyncio.run(_ghost(temporal.address, key_file, queue))
    assert proc.returncode == 0, log.read_text()
    # The worker read the encrypted input (the name is only there) and looked the polecat up.
    assert f"polecat default/{seen.name} (uid no-such-uid) no longer exists" in seen.message
    assert seen.failure_key_id == b"k7"
    # Stored: neither the uid nor the message; the name only in the workflow ID.
    for event in seen.raw:
        assert b"no-such-uid" not in event
        assert b"no longer exists" not in event


async def _adopted_input(address: str, workflow_id: str) -> tuple[bytes, bytes, bytes]:
    """The stored input of the workflow the watcher started: (encoding, key ID, the workflow
    ID it is bound to)."""
    plain = await Client.connect(address, data_converter=pydantic_data_converter)
    handle = plain.get_workflow_handle(workflow_id)
    end = asyncio.get_running_loop().time() + 60
    while True:
        try:
            events = (await handle.fetch_history()).events
            break
        except RPCError:  # not started yet
            assert asyncio.get_running_loop().time() < end, "the watcher started no workflow"
            await asyncio.sleep(0.2)
    (payload,) = events[0].workflow_execution_started_event_attributes.input.payloads
    return (
        payload.metadata["encoding"],
        payload.metadata.get(KEY_ID_METADATA, b""),
        payload.metadata.get(WORKFLOW_ID_METADATA, b""),
    )


def test_the_watcher_process_starts_workflows_with_encrypted_input(
    temporal: TemporalDev,
    cluster: Cluster,
    namespace: str,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """A `kubectl apply`'d polecat: the watcher adopts it and starts its workflow; the input
    (the polecat's identity) is stored encrypted under the key file's primary key."""
    key_file = write_key_file(tmp_path / "keys.json", "w1", {"w1": new_key()}, strict=True)
    log = tmp_path / "watcher.log"
    env = {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": temporal.address}
    args = [
        "--no-leader-election",
        "--serve-namespace",
        namespace,
        "--task-queue",
        f"nobody-{secrets.token_hex(3)}",  # no worker: only the start is looked at
        "--codec-key-file",
        str(key_file),
    ]
    with operator("watcher", args, env, log) as proc:
        apply(kubectl, polecat_doc(namespace, "adopted", "some-rig", desiredState="Working"))
        stored = asyncio.run(
            _adopted_input(temporal.address, polecat_workflow_id(namespace, "adopted"))
        )
    assert proc.returncode == 0, log.read_text()
    assert stored == (ENCODING, b"w1", polecat_workflow_id(namespace, "adopted").encode())
