"""Where the sandbox keeps per-pod files: shared by the pod runner and the log endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pod_dir(root: Path, pod: dict[str, Any]) -> Path:
    meta = pod["metadata"]
    return root / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"


def log_file(root: Path, pod: dict[str, Any], container: str) -> Path:
    return pod_dir(root, pod) / "logs" / f"{container}.log"
