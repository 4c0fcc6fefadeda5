"""Admission with the real kubectl: Pod Security, ResourceQuota, LimitRange, owner references."""

from __future__ import annotations

import json
from typing import Any

import yaml

from gastown.activities.podspec import build_pod
from tests.activities.test_podspec import request
from tests.conftest import Cluster
from tests.sandbox.authz.conftest import Identity, forbidden

# Never pulls (the sandbox's scripted pull failure): the pod stays Pending, so no process runs.
IMAGE = "registry.invalid/app:1"


def bare_pod(name: str, namespace: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": IMAGE, **container}]},
    }


def label(cluster: Cluster, namespace: str, *labels: str) -> None:
    result = cluster.kubectl("label", "--overwrite", "namespace", namespace, *labels)
    assert result.returncode == 0, result.stderr


def create(cluster: Cluster, obj: dict[str, Any], *args: str) -> Any:
    return cluster.kubectl("create", "-f", "-", *args, stdin=json.dumps(obj))


def test_restricted_enforcement_refuses_a_bare_pod_with_upstreams_message(
    cluster: Cluster, namespace: str
) -> None:
    label(cluster, namespace, "pod-security.kubernetes.io/enforce=restricted")
    result = create(cluster, bare_pod("x", namespace))
    assert forbidden(result) == (
        'error when creating "STDIN": pods "x" is forbidden: violates PodSecurity '
        '"restricted:latest": allowPrivilegeEscalation != false (container "app" must set '
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
        '"app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod '
        'or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
        'container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
        '"Localhost")'
    )
    assert cluster.kubectl("get", "pod", "x", "-n", namespace).returncode == 1


def test_our_polecat_pod_is_admitted_under_restricted(cluster: Cluster, namespace: str) -> None:
    label(cluster, namespace, "pod-security.kubernetes.io/enforce=restricted")
    pod = build_pod(request())
    pod["metadata"]["namespace"] = namespace
    pod["metadata"].pop("ownerReferences")
    result = create(cluster, pod, "--dry-run=server")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr


def test_warn_mode_admits_with_a_warning_kubectl_prints(cluster: Cluster, namespace: str) -> None:
    label(
        cluster,
        namespace,
        "pod-security.kubernetes.io/enforce=baseline",
        "pod-security.kubernetes.io/warn=restricted",
        "pod-security.kubernetes.io/warn-version=v1.32",
    )
    result = create(cluster, bare_pod("w", namespace))
    assert result.returncode == 0, result.stderr
    assert 'Warning: would violate PodSecurity "restricted:v1.32": allowPrivilegeEscalation' in (
        result.stderr
    )
    privileged = bare_pod("p", namespace, securityContext={"privileged": True})
    assert 'violates PodSecurity "baseline:latest": privileged (container "app" must not set ' in (
        forbidden(create(cluster, privileged))
    )


def test_namespaces_without_labels_enforce_nothing(cluster: Cluster, namespace: str) -> None:
    pod = bare_pod("root", namespace, securityContext={"privileged": True, "runAsUser": 0})
    result = create(cluster, pod, "--dry-run=server")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr


def test_resource_quota_counts_pods_and_requires_requests(cluster: Cluster, namespace: str) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": namespace},
        "spec": {"hard": {"pods": "1", "requests.cpu": "1"}},
    }
    assert create(cluster, quota).returncode == 0
    no_requests = forbidden(create(cluster, bare_pod("a", namespace)))
    assert no_requests.endswith(
        'pods "a" is forbidden: failed quota: q: must specify requests.cpu for: app'
    )
    small = bare_pod("a", namespace, resources={"requests": {"cpu": "500m"}})
    assert create(cluster, small).returncode == 0
    used = cluster.kubectl("get", "resourcequota", "q", "-n", namespace, "-o", "json")
    assert json.loads(used.stdout)["status"]["used"] == {"pods": "1", "requests.cpu": "500m"}
    second = bare_pod("b", namespace, resources={"requests": {"cpu": "200m"}})
    assert forbidden(create(cluster, second)).endswith(
        'pods "b" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'
    )
    assert cluster.kubectl("delete", "pod", "a", "-n", namespace, "--wait=true").returncode == 0
    assert create(cluster, second).returncode == 0


def test_limit_range_defaults_and_maximums(cluster: Cluster, namespace: str) -> None:
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "lr", "namespace": namespace},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"memory": "256Mi"},
                    "defaultRequest": {"memory": "128Mi"},
                    "max": {"memory": "1Gi"},
                }
            ]
        },
    }
    assert create(cluster, limits).returncode == 0
    made = create(cluster, bare_pod("d", namespace), "-o", "json")
    assert made.returncode == 0, made.stderr
    pod = json.loads(made.stdout)
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"memory": "256Mi"},
        "requests": {"memory": "128Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: memory request for container app; memory limit for container app"
    )
    big = bare_pod("big", namespace, resources={"limits": {"memory": "2Gi"}})
    assert forbidden(create(cluster, big)).endswith(
        'pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi'
    )


POLECAT = """
apiVersion: gastown.gastown.io/v1alpha1
kind: Polecat
metadata: {{name: owner, namespace: {ns}}}
spec: {{rig: demo-rig}}
"""


def test_block_owner_deletion_needs_update_on_the_owners_finalizers(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    made = cluster.kubectl("apply", "-f", "-", "-o", "json", stdin=POLECAT.format(ns=namespace))
    assert made.returncode == 0, made.stderr
    uid = json.loads(made.stdout)["metadata"]["uid"]
    bot = service_account(namespace, "bot")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "maker", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}],
    }
    binding = cluster.kubectl(
        "create",
        "rolebinding",
        "maker",
        "-n",
        namespace,
        "--role=maker",
        f"--serviceaccount={namespace}:bot",
    )
    assert create(cluster, role).returncode == 0 and binding.returncode == 0
    owned = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "task",
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "gastown.gastown.io/v1alpha1",
                    "kind": "Polecat",
                    "name": "owner",
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
    }
    assert forbidden(create(bot, owned)).endswith(
        'configmaps "task" is forbidden: cannot set blockOwnerDeletion if an ownerReference '
        "refers to a resource you can't set finalizers on: , <nil>"
    )
    role["rules"].append(
        {
            "apiGroups": ["gastown.gastown.io"],
            "resources": ["polecats/finalizers"],
            "verbs": ["update"],
        }
    )
    assert cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(role)).returncode == 0
    result = create(bot, owned)
    assert result.returncode == 0, result.stderr
    # Without blockOwnerDeletion no finalizers right is needed.
    plain = json.loads(json.dumps(owned))
    plain["metadata"]["name"] = "plain"
    plain["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = False
    assert create(bot, plain).returncode == 0
