"""AES-256-GCM over whole payloads, as temporalio's samples-python `encryption` sample does
(`binary/encrypted`, the key ID in `encryption-key-id`), with rotation: the key file holds
several keys by ID, new payloads use the primary, old ones decode with the key they name.

Why the whole serialized Payload is encrypted (not only `data`): its metadata says which
message type and encoding it held; only the codec's own metadata entries stay in clear.

Format 2 (`encryption-format: 2`) binds each ciphertext, as AES-GCM associated data, to the
metadata that stays in clear: the encoding, the key ID, the format, and the Temporal namespace
and workflow ID the SDK's serialization context names (docs/codec.md, "Associated data"). The
namespace and workflow ID are in the metadata too, so the codec server, which sees only a
namespace header, can still decrypt; a payload moved to another workflow or namespace, or
whose metadata was edited, does not decode. Format 1 (no `encryption-format`, no associated
data) is what this codec wrote before: still decoded unless the key file requires format 2.

The key file (a mounted Secret) is JSON:

    {"primary": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "<base64 of 32 bytes>"},
     "requireEncryption": false}

`requireEncryption: true` (strict mode) refuses, on decode, every payload this codec did not
write in format 2: plaintext from a client without the key, and format-1 ciphertext. The key
file is the one thing every process reads, so they cannot disagree about it.

Nothing here ever puts key material into a message or a repr: errors name the key ID and
the file, never a key.
"""

from __future__ import annotations

import base64
import binascii
import copy as copy_module
import json
import os
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

ENCODING: Final = b"binary/encrypted"
KEY_ID_METADATA: Final = "encryption-key-id"
FORMAT_METADATA: Final = "encryption-format"
NAMESPACE_METADATA: Final = "encryption-namespace"
WORKFLOW_ID_METADATA: Final = "encryption-workflow-id"
FORMAT_2: Final = b"2"
# The clear metadata entries format 2 authenticates, in this order. Entries not listed (none
# are written; a proxy could add some) are neither trusted nor authenticated.
BOUND_METADATA: Final = (
    "encoding",
    KEY_ID_METADATA,
    FORMAT_METADATA,
    NAMESPACE_METADATA,
    WORKFLOW_ID_METADATA,
)
AD_PREFIX: Final = b"gastown-codec/2\0"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
# Key IDs go into every payload's metadata in clear: short, printable, no secret.
KEY_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class CodecKeyError(ValueError):
    """The key file cannot be used (missing, not JSON, a key not base64 of 32 bytes)."""


class UnknownKeyID(ValueError):
    """A payload names a key ID the key file does not hold (rotated out too early)."""


class PayloadRefused(ValueError):
    """Decode refused a payload: plaintext or format 1 in strict mode, or a ciphertext bound
    to another namespace or workflow than the one it is decoded for."""


@dataclass(frozen=True)
class KeyFile:
    primary: str
    keys: Mapping[str, bytes]
    require_encryption: bool = False

    def __repr__(self) -> str:
        return (
            f"KeyFile(primary={self.primary!r}, key_ids={sorted(self.keys)!r}, "
            f"require_encryption={self.require_encryption!r})"
        )


def parse_key_file(text: str, source: str = "the key file") -> KeyFile:
    """The primary key ID, every key by ID and the strict-mode switch, from the file's text."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CodecKeyError(
            f"{source} is not JSON ({exc.msg}, line {exc.lineno}); it must hold "
            '{"primary": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>", ...}}'
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict) or not doc["keys"]:
        raise CodecKeyError(
            f'{source} has no "keys" object; it must hold '
            '{"primary": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>", ...}}'
        )
    keys: dict[str, bytes] = {}
    for key_id, encoded in doc["keys"].items():
        if not KEY_ID_PATTERN.match(key_id):
            raise CodecKeyError(
                f"{source}: key ID {key_id[:64]!r} is not a key ID (letters, digits, '.', '_', "
                "'-'; at most 63 characters)"
            )
        if not isinstance(encoded, str):
            raise CodecKeyError(f"{source}: key {key_id!r} is not a base64 string")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(
                f"{source}: key {key_id!r} is not base64; make one with "
                "`head -c 32 /dev/urandom | base64`"
            ) from None
        if len(raw) != KEY_BYTES:
            raise CodecKeyError(
                f"{source}: key {key_id!r} is {len(raw)} bytes, AES-256-GCM needs "
                f"{KEY_BYTES}; make one with `head -c 32 /dev/urandom | base64`"
            )
        keys[key_id] = raw
    primary = doc.get("primary")
    if primary is None and len(keys) == 1:
        primary = next(iter(keys))
    if not isinstance(primary, str) or primary not in keys:
        raise CodecKeyError(
            f'{source}: "primary" must name one of its keys ({", ".join(sorted(keys))})'
        )
    strict = doc.get("requireEncryption", False)
    if not isinstance(strict, bool):
        raise CodecKeyError(f'{source}: "requireEncryption" must be true or false')
    unknown = sorted(set(doc) - {"primary", "keys", "requireEncryption"})
    if unknown:
        raise CodecKeyError(
            f"{source}: unknown field {unknown[0][:64]!r}; the fields are "
            '"primary", "keys" and "requireEncryption"'
        )
    return KeyFile(primary, keys, strict)


def load_key_file(path: str | os.PathLike[str]) -> AESGCMCodec:
    """The codec for the key file at `path`, checked whole before anything connects."""
    where = Path(path).expanduser()
    try:
        text = where.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CodecKeyError(f"cannot read {path}: {reason}") from None
    parsed = parse_key_file(text, str(path))
    return AESGCMCodec(parsed.primary, parsed.keys, require_encryption=parsed.require_encryption)


@dataclass(frozen=True)
class Binding:
    """Where a payload belongs: the namespace and workflow ID the SDK names when it encodes
    or decodes it (None when it names none: the codec server, a memo, a standalone
    activity, a Nexus operation)."""

    namespace: str | None = None
    workflow_id: str | None = None

    @classmethod
    def of(cls, context: SerializationContext) -> Binding:
        if isinstance(context, WorkflowSerializationContext):
            return cls(context.namespace or None, context.workflow_id or None)
        if isinstance(context, ActivitySerializationContext):
            return cls(context.namespace or None, context.workflow_id or None)
        return cls()


def associated_data(metadata: Mapping[str, bytes]) -> bytes:
    """The clear metadata format 2 authenticates, unambiguously framed (length-prefixed,
    absent distinct from empty)."""
    out = [AD_PREFIX]
    for name in BOUND_METADATA:
        value = metadata.get(name)
        out.append(b"\0" if value is None else b"\1" + struct.pack(">I", len(value)) + value)
    return b"".join(out)


def _inert(payload: Payload) -> bool:
    """An empty Payload: no metadata and no data, so nothing a converter can read."""
    return not payload.metadata and not payload.data


class AESGCMCodec(PayloadCodec, WithSerializationContext):
    """Encrypts with the primary key, bound to where the SDK says the payload goes; decrypts
    with the key each payload names, checking it is decoded where it was bound. Permissive by
    default: plaintext and format-1 payloads pass, so histories written before the codec (or
    before format 2) still replay; `require_encryption` refuses them."""

    def __init__(
        self,
        primary: str,
        keys: Mapping[str, bytes],
        *,
        require_encryption: bool = False,
        binding: Binding | None = None,
    ) -> None:
        if primary not in keys:
            raise CodecKeyError(f"primary key {primary!r} is not among the keys")
        self.primary = primary
        self.require_encryption = require_encryption
        self.binding = binding or Binding()
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    def __repr__(self) -> str:
        return (
            f"AESGCMCodec(primary={self.primary!r}, key_ids={sorted(self._ciphers)!r}, "
            f"require_encryption={self.require_encryption!r})"
        )

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def with_context(self, context: SerializationContext) -> Self:
        """The SDK calls this with the namespace and workflow of each payload it converts."""
        return self.bound_to(Binding.of(context))

    def bound_to(self, binding: Binding) -> Self:
        """This codec (same keys and mode) encoding for and checking against `binding`. The
        SDK asks for one per activation and command: the ciphers are shared, not rebuilt."""
        copy = copy_module.copy(self)
        copy.binding = binding
        return copy

    def encode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self.primary]
        clear_metadata = {
            "encoding": ENCODING,
            KEY_ID_METADATA: self.primary.encode(),
            FORMAT_METADATA: FORMAT_2,
        }
        if self.binding.namespace:
            clear_metadata[NAMESPACE_METADATA] = self.binding.namespace.encode()
        if self.binding.workflow_id:
            clear_metadata[WORKFLOW_ID_METADATA] = self.binding.workflow_id.encode()
        ad = associated_data(clear_metadata)
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), ad)
            out.append(Payload(metadata=clear_metadata, data=nonce + sealed))
        return out

    def decode_sync(
        self, payloads: Sequence[Payload], *, strict: bool | None = None
    ) -> list[Payload]:
        """`strict` overrides the key file's mode (the codec server shows plaintext as it is)."""
        strict = self.require_encryption if strict is None else strict
        return [self._decode_one(payload, strict) for payload in payloads]

    def _decode_one(self, payload: Payload, strict: bool) -> Payload:
        metadata = payload.metadata
        if metadata.get("encoding") != ENCODING:
            if strict and not _inert(payload):
                encoding = metadata.get("encoding", b"").decode("utf-8", "replace")[:64]
                raise PayloadRefused(
                    f"refused a payload that is not encrypted (encoding {encoding!r}): the codec "
                    'key file sets "requireEncryption", so every payload must come from a '
                    "client with the codec key (--codec-key-file / GASTOWN_CODEC_KEY_FILE)"
                )
            return payload
        key_id = metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyID(
                f"payload was encrypted with key ID {key_id[:64]!r}, which the codec key "
                f"file does not hold (it holds {', '.join(self.key_ids)}); add that key "
                "back to the key file"
            )
        version = metadata.get(FORMAT_METADATA)
        if version is None:
            if strict:
                raise PayloadRefused(
                    "refused a format-1 payload (encrypted without associated data): the codec "
                    'key file sets "requireEncryption"; turn it off while histories written '
                    "before format 2 must still be read (docs/codec.md)"
                )
            ad = None
        elif version == FORMAT_2:
            ad = associated_data(metadata)
        else:
            raise PayloadRefused(
                f"payload has encryption format {version.decode('utf-8', 'replace')[:16]!r}, "
                "which this codec does not know (a newer gastown wrote it)"
            )
        try:
            clear = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], ad)
        except InvalidTag:
            raise ValueError(
                f"payload does not decrypt with key ID {key_id!r}: the key under that ID "
                "changed, or the payload or its metadata was altered"
            ) from None
        if ad is not None:  # the binding is authentic now: check it is decoded where it belongs
            self._check_binding(metadata)
        return Payload.FromString(clear)

    def _check_binding(self, metadata: Mapping[str, bytes]) -> None:
        bound_ns = metadata.get(NAMESPACE_METADATA)
        namespace = self.binding.namespace
        if bound_ns is not None and namespace is not None:
            bound = bound_ns.decode("utf-8", "replace")
            if bound != namespace:
                raise PayloadRefused(
                    f"payload was encrypted for namespace {bound[:253]!r}, not "
                    f"{namespace[:253]!r}: it was copied from another namespace"
                )
        bound_wf = metadata.get(WORKFLOW_ID_METADATA)
        if bound_wf is not None and self.binding.workflow_id is not None:
            bound = bound_wf.decode("utf-8", "replace")
            # Exactly: no suffix rule for schedules (a workflow a schedule starts is named
            # "<ID>-<nominal time>" and refuses what was encrypted for "<ID>"; gastown
            # starts no schedules, and such a rule let "<ID>-2026-…Z" read "<ID>"'s payloads).
            if bound != self.binding.workflow_id:
                raise PayloadRefused(
                    f"payload was encrypted for workflow {bound[:255]!r}, not "
                    f"{self.binding.workflow_id[:255]!r}: it was copied from another workflow"
                )

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_sync(payloads)
