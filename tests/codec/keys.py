"""Key files for the codec tests: fresh random keys, written as the documented JSON."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from temporalio.converter import DataConverter

from gastown.config import resolve_temporal


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def write_key_file(
    path: Path, primary: str, keys: dict[str, str], *, strict: bool | None = None
) -> Path:
    doc: dict[str, object] = {"primary": primary, "keys": keys}
    if strict is not None:
        doc["requireEncryption"] = strict
    path.write_text(json.dumps(doc))
    return path


def codec_converter(key_file: Path) -> DataConverter:
    """The data converter every process builds from this key file (TemporalSettings)."""
    return resolve_temporal(codec_key_file=str(key_file), env={}).data_converter()
