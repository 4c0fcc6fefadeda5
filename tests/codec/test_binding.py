"""Format 2: each ciphertext is bound (AES-GCM associated data) to its clear metadata, and to
the namespace and workflow the SDK's serialization context names; strict mode refuses what
our codec did not write. Format-1 ciphertexts (written before) still decode when not strict.
The codec is driven through temporalio's own DataConverter.with_context, as the SDK does."""

from __future__ import annotations

import base64
import dataclasses
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    NexusSerializationContext,
    WorkflowSerializationContext,
)

from gastown.codec import (
    ENCODING,
    FORMAT_METADATA,
    KEY_ID_METADATA,
    NAMESPACE_METADATA,
    WORKFLOW_ID_METADATA,
    AESGCMCodec,
    PayloadRefused,
    parse_key_file,
)

KEY = os.urandom(32)


def converter(strict: bool = False) -> DataConverter:
    codec = AESGCMCodec("k1", {"k1": KEY}, require_encryption=strict)
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


def wf(workflow_id: str, namespace: str = "default") -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace=namespace, workflow_id=workflow_id)


def activity(workflow_id: str | None, namespace: str = "default") -> ActivitySerializationContext:
    return ActivitySerializationContext(
        namespace=namespace,
        activity_id="1",
        activity_type="a",
        activity_task_queue="q",
        workflow_id=workflow_id,
        workflow_type="W" if workflow_id else None,
        is_local=False,
    )


def v1(value: str) -> Payload:
    """A payload as the codec wrote it before format 2 (no associated data)."""
    (plain,) = pydantic_data_converter.payload_converter.to_payloads([value])
    nonce = os.urandom(12)
    sealed = AESGCM(KEY).encrypt(nonce, plain.SerializeToString(), None)
    return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, data=nonce + sealed)


async def test_a_payload_is_bound_to_the_namespace_and_workflow_it_is_for() -> None:
    (payload,) = await converter().with_context(wf("polecat-ns-a")).encode(["in"])
    assert payload.metadata[NAMESPACE_METADATA] == b"default"
    assert payload.metadata[WORKFLOW_ID_METADATA] == b"polecat-ns-a"
    assert payload.metadata[FORMAT_METADATA] == b"2"
    # The workflow's worker decodes it under its own context; an activity of that workflow
    # too (its input and result travel under the activity's context, same workflow ID).
    assert await converter().with_context(wf("polecat-ns-a")).decode([payload]) == ["in"]
    assert await converter().with_context(activity("polecat-ns-a")).decode([payload]) == ["in"]
    # Another workflow, or the same ID in another namespace, refuses it.
    with pytest.raises(PayloadRefused, match="for workflow 'polecat-ns-a', not 'polecat-ns-b'"):
        await converter().with_context(wf("polecat-ns-b")).decode([payload])
    with pytest.raises(PayloadRefused, match="for namespace 'default', not 'other'"):
        await converter().with_context(wf("polecat-ns-a", "other")).decode([payload])
    # Without a context (the codec server, a history read by hand) it decodes: the binding is
    # in its metadata, authenticated.
    assert await converter().decode([payload]) == ["in"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (WORKFLOW_ID_METADATA, b"polecat-ns-b"),
        (NAMESPACE_METADATA, b"other"),
        (KEY_ID_METADATA, b"k1"),  # unchanged: the control, it decodes
        (FORMAT_METADATA, None),  # dropped: read as format 1, no associated data
        ("encoding", b"binary/encrypted"),
    ],
    ids=["workflow", "namespace", "control", "format-dropped", "encoding-same"],
)
async def test_edited_metadata_does_not_decrypt(name: str, value: bytes | None) -> None:
    (payload,) = await converter().with_context(wf("polecat-ns-a")).encode(["in"])
    if value is None:
        del payload.metadata[name]
    else:
        payload.metadata[name] = value
    plain = converter()
    if name in (KEY_ID_METADATA, "encoding"):
        assert await plain.decode([payload]) == ["in"]
        return
    with pytest.raises(ValueError, match="altered"):
        await plain.decode([payload])


@pytest.mark.parametrize("strict", [False, True], ids=["permissive", "strict"])
async def test_only_the_exact_workflow_id_decodes(strict: bool) -> None:
    """No suffix rule: a ciphertext bound to `polecat/team-a/furiosa` is refused in
    `polecat/team-a/furiosa-2026-12-01T03:00:00Z`, the ID a Temporal schedule gives the
    workflow it starts (so a schedule-started workflow refuses what its schedule was given;
    gastown starts no schedules), and in every other near miss."""
    bound = "polecat/team-a/furiosa"
    (payload,) = await converter(strict).with_context(wf(bound)).encode(["in"])
    assert await converter(strict).with_context(wf(bound)).decode([payload]) == ["in"]
    for other in (
        f"{bound}-2026-12-01T03:00:00Z",
        f"{bound}-evil",
        f"{bound}2026-12-01T03:00:00Z",
        "polecat/team-a/furios",
        f"{bound} ",
    ):
        with pytest.raises(PayloadRefused, match=f"for workflow '{bound}', not "):
            await converter(strict).with_context(wf(other)).decode([payload])


async def test_unbound_payloads_decode_anywhere_in_the_namespace() -> None:
    """What no context names no workflow: a Nexus operation, a standalone activity, the
    codec server's /encode. Those payloads are bound to what was known."""
    (nexus,) = (
        await converter()
        .with_context(NexusSerializationContext(endpoint="e", service="s", operation="o"))
        .encode(["n"])
    )
    assert NAMESPACE_METADATA not in nexus.metadata
    assert WORKFLOW_ID_METADATA not in nexus.metadata
    assert await converter(strict=True).with_context(wf("any")).decode([nexus]) == ["n"]
    (standalone,) = await converter().with_context(activity(None)).encode(["s"])
    assert standalone.metadata[NAMESPACE_METADATA] == b"default"
    assert WORKFLOW_ID_METADATA not in standalone.metadata
    assert await converter(strict=True).with_context(wf("any")).decode([standalone]) == ["s"]
    with pytest.raises(PayloadRefused, match="namespace"):
        await converter().with_context(wf("any", "other")).decode([standalone])


async def test_format_1_ciphertexts_still_decode_unless_strict() -> None:
    old = v1("written before format 2")
    assert await converter().with_context(wf("w")).decode([old]) == ["written before format 2"]
    with pytest.raises(PayloadRefused, match="format-1 payload"):
        await converter(strict=True).with_context(wf("w")).decode([old])


async def test_strict_mode_refuses_plaintext_and_says_why() -> None:
    (plain,) = await pydantic_data_converter.encode(["slipped past"])
    assert await converter().decode([plain]) == ["slipped past"]
    with pytest.raises(PayloadRefused) as info:
        await converter(strict=True).with_context(wf("w")).decode([plain])
    assert "not encrypted (encoding 'json/plain')" in str(info.value)
    assert "requireEncryption" in str(info.value)
    # A null is a payload like any other: the SDK encodes it, so strict refuses it in clear.
    (null,) = await pydantic_data_converter.encode([None])
    with pytest.raises(PayloadRefused):
        await converter(strict=True).decode([null])
    # What it wrote itself decodes, under strict too.
    (mine,) = await converter(strict=True).with_context(wf("w")).encode(["mine"])
    assert await converter(strict=True).with_context(wf("w")).decode([mine]) == ["mine"]


async def test_strict_mode_passes_an_empty_payload() -> None:
    """No metadata and no data: nothing a converter can read (it fails on it anyway)."""
    codec = AESGCMCodec("k1", {"k1": KEY}, require_encryption=True)
    assert await codec.decode([Payload()]) == [Payload()]


async def test_failures_are_bound_like_payloads() -> None:
    """Failures (with the encoded-attributes converter every process uses) carry their
    message in a payload: bound to the workflow it failed in."""
    from temporalio.api.failure.v1 import Failure
    from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
    from temporalio.exceptions import ApplicationError

    conv = dataclasses.replace(
        converter(), failure_converter_class=DefaultFailureConverterWithEncodedAttributes
    )
    failure = Failure()
    await conv.with_context(wf("a")).encode_failure(ApplicationError("secret why"), failure)
    assert "secret why" not in str(failure)
    assert failure.encoded_attributes.metadata[WORKFLOW_ID_METADATA] == b"a"
    copied = Failure()
    copied.CopyFrom(failure)  # decode_failure decodes in place
    back = await conv.with_context(wf("a")).decode_failure(failure)
    assert "secret why" in str(back)
    with pytest.raises(PayloadRefused):
        await conv.with_context(wf("b")).decode_failure(copied)


def test_the_key_file_turns_strict_mode_on() -> None:
    key = base64.b64encode(KEY).decode()
    assert parse_key_file(f'{{"keys": {{"k1": "{key}"}}}}').require_encryption is False
    parsed = parse_key_file(f'{{"keys": {{"k1": "{key}"}}, "requireEncryption": true}}')
    assert parsed.require_encryption is True
    assert key not in repr(parsed)
