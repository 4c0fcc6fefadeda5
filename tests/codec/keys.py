"""Key files for the codec tests: fresh random keys, written as the documented JSON."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def write_key_file(path: Path, primary: str, keys: dict[str, str]) -> Path:
    path.write_text(json.dumps({"primary": primary, "keys": keys}))
    return path
