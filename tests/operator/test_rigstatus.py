"""Rig status: counts by phase, Degraded while a default Secret is missing where it is used."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from gastown.operator.app import Watcher
from gastown.operator.rigstatus import convoy_active
from tests.operator.conftest import apply, polecat_doc, wait_until


async def test_rig_counts_and_missing_default_secret(
    watcher: Watcher,
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    kubectl: Callable[..., Any],
) -> None:
    rig = rig_factory(gitSecretRef={"name": "git-creds"})
    for name in ("rictus", "slit"):
        apply(kubectl, polecat_doc(namespace, name, rig, desiredState="Idle"))

    async def status() -> dict[str, Any]:
        obj = await asyncio.to_thread(
            custom.get_cluster_custom_object, "gastown.gastown.io", "v1alpha1", "rigs", rig
        )
        return obj.get("status") or {}

    async def degraded() -> dict[str, Any] | None:
        st = await status()
        return st if st.get("phase") == "Degraded" and st.get("polecatCount") == 2 else None

    st = await wait_until(degraded, 20, "the rig to be Degraded with two polecats")
    assert st["polecats"] == {
        "pending": 2, "working": 0, "done": 0, "failed": 0, "stuck": 0, "terminated": 0,
    }  # fmt: skip
    assert st["activeConvoys"] == 0
    cond = {c["type"]: c for c in st["conditions"]}
    assert cond["Ready"]["status"] == "False"
    assert cond["SecretsPresent"]["status"] == "False"
    assert "git-creds" in cond["SecretsPresent"]["message"]
    assert namespace in cond["SecretsPresent"]["message"]

    await asyncio.to_thread(
        core.create_namespaced_secret,
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="git-creds"), string_data={"x": "y"}),
    )

    async def ready() -> dict[str, Any] | None:
        st = await status()
        return st if st.get("phase") == "Ready" else None

    st = await wait_until(ready, 20, "the rig to turn Ready once the Secret exists")
    cond = {c["type"]: c for c in st["conditions"]}
    assert cond["Ready"]["status"] == "True"


@pytest.mark.parametrize(
    ("phase", "active"),
    [
        (None, True),
        ("Pending", True),
        ("InProgress", True),
        ("Complete", False),
        ("PartiallyFailed", False),
        ("Failed", False),
        ("Cancelled", False),
    ],
)
def test_active_convoys_are_those_not_in_a_final_phase(phase: str | None, active: bool) -> None:
    assert convoy_active(phase) is active
