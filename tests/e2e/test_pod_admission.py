"""The polecat pod as a locked-down namespace's admission sees it: the restricted Pod Security
Standard enforced by namespace label, and a ResourceQuota that demands requests and limits
from every container. Both are the sandbox's real admission plugins, not a restated dict."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes import client

from tests.e2e.conftest import ClusterKube, Result

QUOTA_HARD = {
    "requests.cpu": "2",
    "requests.memory": "4Gi",
    "limits.cpu": "8",
    "limits.memory": "16Gi",
}


async def test_a_restricted_namespace_with_a_quota_admits_and_runs_the_polecat(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
) -> None:
    core.patch_namespace(
        namespace,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    core.create_namespaced_resource_quota(
        namespace,
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="compute"),
            spec=client.V1ResourceQuotaSpec(hard=QUOTA_HARD),
        ),
    )
    # The quota bites: a restricted pod without requests and limits is refused.
    bare = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "besteffort"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["true"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        },
    }
    refused = kubectl("create", "-n", namespace, "-f", "-", stdin=json.dumps(bare))
    assert refused.returncode != 0
    assert "must specify" in refused.stderr, refused.stderr
    # And so does the profile: a pod that would run as root is refused too.
    root = json.loads(json.dumps(bare))
    root["metadata"]["name"] = "root"
    root["spec"]["securityContext"] = {}
    refused = kubectl("create", "-n", namespace, "-f", "-", stdin=json.dumps(root))
    assert 'violates PodSecurity "restricted' in refused.stderr, refused.stderr

    rig = rig_factory()
    result = await gt("sling", "dm-0001", rig, "--name", "dag", "--agent", "command", "--wait")
    assert result.code == 0, result.err
    polecat = await kube.get_polecat(namespace, "dag")
    assert (polecat["status"]["phase"], polecat["status"]["outcome"]) == ("Done", "completed")
    pod = core.read_namespaced_pod("polecat-dag-1", namespace)
    for container in [*pod.spec.init_containers, *pod.spec.containers]:
        assert container.resources.requests and container.resources.limits, container.name
