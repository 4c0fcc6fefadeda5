"""AES-256-GCM over whole payloads, as temporalio's samples-python `encryption` sample does
(`binary/encrypted`, the key ID in `encryption-key-id`), with rotation: the key file holds
several keys by ID, new payloads use the primary, old ones decode with the key they name.

Why the whole serialized Payload is encrypted (not only `data`): its metadata says which
message type and encoding it held; only the codec's own two metadata entries stay in clear.

The key file (a mounted Secret) is JSON:

    {"primary": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "<base64 of 32 bytes>"}}

Nothing here ever puts key material into a message or a repr: errors name the key ID and
the file, never a key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING: Final = b"binary/encrypted"
KEY_ID_METADATA: Final = "encryption-key-id"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
# Key IDs go into every payload's metadata in clear: short, printable, no secret.
KEY_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class CodecKeyError(ValueError):
    """The key file cannot be used (missing, not JSON, a key not base64 of 32 bytes)."""


class UnknownKeyID(ValueError):
    """A payload names a key ID the key file does not hold (rotated out too early)."""


def parse_key_file(text: str, source: str = "the key file") -> tuple[str, dict[str, bytes]]:
    """The primary key ID and every key by ID, from the key file's text."""
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
    return primary, keys


def load_key_file(path: str | os.PathLike[str]) -> AESGCMCodec:
    """The codec for the key file at `path`, checked whole before anything connects."""
    where = Path(path).expanduser()
    try:
        text = where.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CodecKeyError(f"cannot read {path}: {reason}") from None
    primary, keys = parse_key_file(text, str(path))
    return AESGCMCodec(primary, keys)


class AESGCMCodec(PayloadCodec):
    """Encrypts with the primary key; decrypts with the key each payload names. Payloads
    that are not `binary/encrypted` pass through, so histories written before the codec was
    turned on still read."""

    def __init__(self, primary: str, keys: Mapping[str, bytes]) -> None:
        if primary not in keys:
            raise CodecKeyError(f"primary key {primary!r} is not among the keys")
        self.primary = primary
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    def __repr__(self) -> str:
        return f"AESGCMCodec(primary={self.primary!r}, key_ids={sorted(self._ciphers)!r})"

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def encode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self.primary]
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: self.primary.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    def decode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise UnknownKeyID(
                    f"payload was encrypted with key ID {key_id[:64]!r}, which the codec key "
                    f"file does not hold (it holds {', '.join(self.key_ids)}); add that key "
                    "back to the key file"
                )
            try:
                clear = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
            except InvalidTag:
                raise ValueError(
                    f"payload does not decrypt with key ID {key_id!r}: the key under that ID "
                    "changed, or the payload was altered"
                ) from None
            out.append(Payload.FromString(clear))
        return out

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_sync(payloads)
