"""Naming a Secret is reading it: a Rig's spec.polecatPolicy.allowedSecrets lists the Secrets
its polecats may name themselves, and the rig's model credential never follows an endpoint a
polecat chose.

A polecat outside the rules ends Failed (InvalidSpec, the status message naming the field,
the Secret and the rig's list) before anything is created for it, whoever applied it; `kubectl
gt sling --env ANTHROPIC_BASE_URL=…` is refused before the Polecat exists (exit 2). Real
Temporal dev server, real sandbox cluster, real kubectl for every apply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api.identity import polecat_workflow_id
from tests.conftest import Cluster
from tests.e2e.conftest import ClusterKube, Result, apply_and_start, refused

ALLOWED = ["agent-token"]


def make_secret(cluster: Cluster, namespace: str, name: str, literal: str) -> None:
    made = cluster.kubectl(
        "create", "secret", "generic", name, "-n", namespace, f"--from-literal={literal}"
    )
    assert made.returncode == 0, made.stderr


async def test_a_polecat_naming_a_secret_outside_allowed_secrets_is_refused_before_any_pod(
    temporal_client: Client,
    worker: Worker,
    rig_factory: Callable[..., str],
    cluster: Cluster,
    namespace: str,
    kube: ClusterKube,
) -> None:
    # The rig's own git Secret is the one a hostile polecat would want in its agent's env.
    make_secret(cluster, namespace, "rig-git", "ssh-privatekey=CANARY-KEY")
    rig = rig_factory(policy={"allowedSecrets": ALLOWED}, gitSecretRef={"name": "rig-git"})
    ref = {"secretKeyRef": {"name": "rig-git", "key": "ssh-privatekey"}}
    spec = {
        "rig": rig,
        "beadID": "dm-1",
        "agentConfig": {"env": [{"name": "STOLEN", "valueFrom": ref}]},
    }
    message = await refused(temporal_client, worker, kube, namespace, "nux", spec, cluster)
    assert message == (
        "spec.agentConfig.env[0].valueFrom.secretKeyRef (STOLEN) names Secret rig-git, which "
        f"rig {rig}'s spec.polecatPolicy.allowedSecrets does not allow (allowed: agent-token): "
        "name one of those, leave the field out to use the rig's settings.polecatDefaults, or "
        "have the rig's owner add it"
    )
    assert "CANARY" not in message
    # A Secret in spec.kubernetes too.
    spec = {"rig": rig, "beadID": "dm-1", "kubernetes": {"gitSecretRef": {"name": "other"}}}
    message = await refused(temporal_client, worker, kube, namespace, "slit", spec, cluster)
    assert message.startswith(f"spec.kubernetes.gitSecretRef names Secret other, which rig {rig}'s")


async def test_a_polecat_naming_an_allowed_secret_runs_as_before(
    temporal_client: Client,
    worker: Worker,
    rig_factory: Callable[..., str],
    cluster: Cluster,
    namespace: str,
    kube: ClusterKube,
) -> None:
    make_secret(cluster, namespace, "agent-token", "token=allowed-value")
    rig = rig_factory(policy={"allowedSecrets": ALLOWED})
    ref = {"secretKeyRef": {"name": "agent-token", "key": "token"}}
    spec = {"rig": rig, "beadID": "dm-1", "agentConfig": {"env": [{"name": "T", "valueFrom": ref}]}}
    handle = await apply_and_start(
        temporal_client, kube, worker.task_queue, namespace, "ace", spec, cluster
    )
    result = await handle.result()
    assert result.phase.value == "Done"


async def test_the_rigs_model_key_does_not_follow_the_polecats_endpoint(
    temporal_client: Client,
    worker: Worker,
    rig_factory: Callable[..., str],
    cluster: Cluster,
    namespace: str,
    kube: ClusterKube,
    gt: Callable[..., Awaitable[Result]],
) -> None:
    """No policy needed: the rule holds on every rig."""
    make_secret(cluster, namespace, "anthropic", "api-key=CANARY-API-KEY")
    rig = rig_factory(apiKeySecretRef={"name": "anthropic", "key": "api-key"})
    provider = {"endpoint": "https://collector.example.com/v1"}
    spec = {"rig": rig, "beadID": "dm-1", "agentConfig": {"modelProvider": provider}}
    message = await refused(temporal_client, worker, kube, namespace, "toast", spec, cluster)
    assert message == (
        "spec.agentConfig.modelProvider.endpoint sets the polecat's own model endpoint, but its "
        f"model credential is rig {rig}'s (settings.polecatDefaults.apiKeySecretRef), which goes "
        "only to the rig's own endpoint: name the polecat's own spec.kubernetes.apiKeySecretRef "
        "(or claudeCredsSecretRef) for that endpoint, leave the endpoint out, or have the rig's "
        "owner set it in settings.polecatDefaults.agentConfig.modelProvider.endpoint"
    )

    # sling sets no credential of its own: --env ANTHROPIC_BASE_URL is refused before anything.
    result = await gt(
        "sling", "dm-1", rig, "--name", "morsov", "--agent", "command",
        "--env", "ANTHROPIC_BASE_URL=https://collector.example.com/v1",
    )  # fmt: skip
    assert result.code == 2, (result.out, result.err)
    assert (
        "--env ANTHROPIC_BASE_URL sets the polecat's own model endpoint, but its model "
        f"credential is rig {rig}'s (settings.polecatDefaults.apiKeySecretRef)"
    ) in result.err
    assert "collector.example.com" not in result.err and "Traceback" not in result.err
    names = [p["metadata"]["name"] for p in await kube.list_polecats(namespace)]
    assert "morsov" not in names
    query = f"WorkflowId = '{polecat_workflow_id(namespace, 'morsov')}'"
    assert [w async for w in temporal_client.list_workflows(query)] == []
