"""`gastown-operator worker --pod-service-account`: a slung polecat's pod runs as that
ServiceAccount, with its token still not mounted, and finishes."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import TEST_DEFAULTS, Result
from tests.e2e.test_sling import diagnose

ACCOUNT = "gastown-polecat"


@pytest.mark.parametrize(
    "worker", [dataclasses.replace(TEST_DEFAULTS, pod_service_account=ACCOUNT)], indirect=True
)
async def test_the_pod_runs_as_the_workers_service_account(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
) -> None:
    made = kubectl("create", "serviceaccount", ACCOUNT, "-n", namespace)
    assert made.returncode == 0, made.stderr
    rig = rig_factory()
    result = await gt(
        "sling", "dm-0001", rig, "--name", "furiosa", "--agent", "command", "--wait",
        "--timeout", "120",
    )  # fmt: skip
    assert result.code == 0, (result.err, await diagnose(gt, rig, "furiosa"))
    pod = core.read_namespaced_pod("polecat-furiosa-1", namespace)
    assert pod.spec.service_account_name == ACCOUNT
    assert pod.spec.automount_service_account_token is False
