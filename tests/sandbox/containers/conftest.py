"""Container mode: the session sandbox switched to podman for a test, the real polecat-agent
image, and a check that nothing of the sandbox's is left in podman afterwards.

A missing podman or image is a failure naming `make images`, never a skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gastown.sandbox import Sandbox
from gastown.sandbox import podman as argv
from tests.sandbox.waits import wait_until

POLECAT_IMAGE = "ghcr.io/gastown/polecat-agent:0.1.0"
PODMAN_HINT = "run `make container-tools` (as root), then `make images`"


def podman_binary() -> str:
    found = shutil.which("podman")
    if found is None:
        pytest.fail(f"container-mode tests need podman: {PODMAN_HINT}")
    return found


@pytest.fixture(scope="session")
def polecat_image() -> str:
    """The real polecat-agent image, from local podman storage (never pulled)."""
    return require_polecat_image()


def require_polecat_image() -> str:
    result = subprocess.run(
        [*argv.base(podman_binary()), "image", "exists", POLECAT_IMAGE],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.fail(f"{POLECAT_IMAGE} is not in local podman storage: run `make images`")
    return POLECAT_IMAGE


def sandbox_containers(sandbox: Sandbox) -> list[dict[str, Any]]:
    """This sandbox's podman containers (a neighbour's, sharing the machine, are not ours)."""
    state = str(Path(sandbox.config.state_dir).resolve())
    result = subprocess.run(
        [
            *argv.base(podman_binary()),
            "ps",
            "--all",
            "--format=json",
            f"--filter=label={argv.LABEL_STATE}={state}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return found


@pytest.fixture
def containers(
    sandbox: Sandbox, polecat_image: str, namespace: str, core: client.CoreV1Api
) -> Iterator[Sandbox]:
    """The session sandbox in container mode for one test. Afterwards its pods are deleted
    and no container of this sandbox may be left in podman."""
    before = sandbox.config.containers
    sandbox.config.containers = True
    try:
        yield sandbox
    finally:
        sandbox.config.containers = before
        core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        wait_until(lambda: not core.list_namespaced_pod(namespace).items, 60, "pods gone")
        wait_until(lambda: not sandbox_containers(sandbox), 60, "no podman container left")
