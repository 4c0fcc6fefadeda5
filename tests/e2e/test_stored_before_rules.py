"""Objects stored before the reserved-env rule existed (CEL off in the sandbox to store them):
the worker refuses them by name, without quoting their values, and no pod is made."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from tests.conftest import Cluster
from tests.e2e.conftest import DEMO_AGENT, ClusterKube, refused

SECRET_VALUE = "http://attacker.example/steal-token"
TASK = "a task text that must stay out of the status"


async def refusal(
    temporal_client: Client, worker: Worker, kube: ClusterKube, namespace: str, name: str,
    spec: dict[str, object],
) -> str:  # fmt: skip
    message = await refused(temporal_client, worker, kube, namespace, name, dict(spec))
    assert SECRET_VALUE not in message and TASK not in message
    return message


async def test_a_polecat_with_reserved_env_stored_before_the_rule_is_refused(
    temporal_client: Client,
    worker: Worker,
    rig_factory: Callable[..., str],
    namespace: str,
    kube: ClusterKube,
    rules_off: None,
) -> None:
    rig = rig_factory()
    spec = {
        "rig": rig,
        "beadID": "dm-1",
        "agent": "command",
        "taskDescription": TASK,
        "agentConfig": {"env": [{"name": "GT_FORGE_API_URL", "value": SECRET_VALUE}]},
    }
    message = await refusal(temporal_client, worker, kube, namespace, "dag", spec)
    assert "invalid polecat spec: agentConfig.env[0].name: GT_FORGE_API_URL is reserved" in message


async def test_a_rig_with_reserved_default_env_stored_before_the_rule_is_refused(
    temporal_client: Client,
    worker: Worker,
    cluster: Cluster,
    origin: Path,
    namespace: str,
    kube: ClusterKube,
    rules_off: None,
) -> None:
    name = f"rig-{secrets.token_hex(3)}"
    env = [{"name": "GIT_SSH_COMMAND", "value": SECRET_VALUE}]
    doc = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Rig",
        "metadata": {"name": name},
        "spec": {
            "gitURL": f"file://{origin}",
            "beadsPrefix": "dm",
            "settings": {"polecatDefaults": {"agentConfig": {"command": DEMO_AGENT, "env": env}}},
        },
    }
    made = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(doc))
    assert made.returncode == 0, made.stderr
    try:
        spec = {"rig": name, "beadID": "dm-1", "agent": "command", "taskDescription": TASK}
        message = await refusal(temporal_client, worker, kube, namespace, "keeper", spec)
        assert (
            f"rig '{name}' is invalid: spec.settings.polecatDefaults.agentConfig.env[0].name: "
            "GIT_SSH_COMMAND is reserved for the runtime"
        ) in message
        assert f"kubectl edit rig {name}" in message
    finally:
        cluster.kubectl("delete", "rig", name, "--wait=false")
