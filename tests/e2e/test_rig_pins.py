"""A Rig's spec.polecatPolicy pins the repositories and images its polecats may use.

A polecat that points elsewhere is refused before any pod: by the worker when it resolves
the polecat (Failed, the status message naming the field and the rig's list; no pod), and by
`kubectl gt sling` for what its own flags set (exit 2, nothing created). Real Temporal dev
server, real sandbox cluster, real kubectl.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api.identity import polecat_workflow_id
from tests.e2e.conftest import TEST_DEFAULTS, ClusterKube, Result, apply_and_start, refused

ALLOWED_IMAGES = ["ghcr.io/gastown/", "registry.example.com/team/agent:"]


@pytest.fixture
def pinned_rig(rig_factory: Callable[..., str]) -> str:
    policy = {
        "allowedRepositories": ["https://git.example.com/team/"],
        "allowedImages": ALLOWED_IMAGES,
    }
    return rig_factory(policy=policy)


async def test_a_repository_outside_the_rigs_pins_is_refused_before_any_pod(
    temporal_client: Client, worker: Worker, pinned_rig: str, namespace: str, kube: ClusterKube
) -> None:
    spec = {
        "rig": pinned_rig,
        "beadID": "dm-1",
        "agent": "command",
        "kubernetes": {"gitRepository": "https://evil.example.com/team/repo.git"},
    }
    message = await refused(temporal_client, worker, kube, namespace, "nux", spec)
    assert (
        "spec.kubernetes.gitRepository https://evil.example.com/team/repo.git is not allowed by "
        f"rig {pinned_rig}'s spec.polecatPolicy.allowedRepositories"
    ) in message
    assert "https://git.example.com/team/" in message
    # A `..` cannot walk out of an allowed prefix.
    spec["kubernetes"] = {"gitRepository": "https://git.example.com/team/../other/repo.git"}
    message = await refused(temporal_client, worker, kube, namespace, "slit", spec)
    assert "allowedRepositories" in message


async def test_an_image_outside_the_rigs_pins_is_refused_before_any_pod(
    temporal_client: Client, worker: Worker, pinned_rig: str, namespace: str, kube: ClusterKube
) -> None:
    spec = {
        "rig": pinned_rig,
        "beadID": "dm-1",
        "agent": "command",
        "kubernetes": {"image": "docker.io/evil/agent:1"},
    }
    message = await refused(temporal_client, worker, kube, namespace, "toast", spec)
    assert (
        "image docker.io/evil/agent:1 (from spec.kubernetes.image) is not allowed by rig "
        f"{pinned_rig}'s spec.polecatPolicy.allowedImages (allowed: "
        "ghcr.io/gastown/, registry.example.com/team/agent:"
    ) in message


async def test_what_the_pins_allow_runs_as_before(
    temporal_client: Client, worker: Worker, pinned_rig: str, namespace: str, kube: ClusterKube
) -> None:
    """The rig's own repository and the worker's default image (under ghcr.io/gastown/)."""
    assert TEST_DEFAULTS.image.startswith("ghcr.io/gastown/")
    spec = {"rig": pinned_rig, "beadID": "dm-1", "agent": "command"}
    handle = await apply_and_start(temporal_client, kube, worker.task_queue, namespace, "ace", spec)
    result = await handle.result()
    assert result.phase.value == "Done"


async def test_sling_with_an_image_outside_the_pins_is_a_usage_error(
    gt: Callable[..., Awaitable[Result]],
    pinned_rig: str,
    namespace: str,
    kube: ClusterKube,
    temporal_client: Client,
) -> None:
    result = await gt(
        "sling", "dm-1", pinned_rig, "--name", "morsov", "--agent", "command",
        "--image", "docker.io/evil/agent:1",
    )  # fmt: skip
    assert result.code == 2, (result.out, result.err)
    assert (
        f"--image docker.io/evil/agent:1 is not allowed by rig {pinned_rig}'s "
        "spec.polecatPolicy.allowedImages (allowed: ghcr.io/gastown/, "
        "registry.example.com/team/agent:"
    ) in result.err
    assert "Traceback" not in result.err
    names = [p["metadata"]["name"] for p in await kube.list_polecats(namespace)]
    assert "morsov" not in names
    query = f"WorkflowId = '{polecat_workflow_id(namespace, 'morsov')}'"
    assert [w async for w in temporal_client.list_workflows(query)] == []
    # An allowed image goes through (the one image the sandbox runs, under a pinned prefix).
    ok = await gt(
        "sling", "dm-1", pinned_rig, "--name", "morsov", "--agent", "command",
        "--image", TEST_DEFAULTS.image, "--wait",
    )  # fmt: skip
    assert ok.code == 0, (ok.out, ok.err)
