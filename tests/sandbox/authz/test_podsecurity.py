"""Pod Security profiles: upstream's checks, reasons and wording, pod by pod."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gastown.activities.podspec import build_pod
from gastown.sandbox.admission import podsecurity
from gastown.sandbox.admission.podsecurity import evaluate, policy, violations
from tests.activities.test_podspec import request

RESTRICTED_CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "x",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    },
}


def restricted_pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [copy.deepcopy(RESTRICTED_CONTAINER)],
            **spec,
        },
    }


def test_our_polecat_pod_passes_restricted() -> None:
    assert violations(build_pod(request()), "restricted") == []


def test_a_bare_pod_fails_restricted_with_upstreams_reasons_in_order() -> None:
    pod = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert violations(pod, "privileged") == []
    assert violations(pod, "baseline") == []
    assert violations(pod, "restricted") == [
        'allowPrivilegeEscalation != false (container "c" must set '
        "securityContext.allowPrivilegeEscalation=false)",
        'unrestricted capabilities (container "c" must set '
        'securityContext.capabilities.drop=["ALL"])',
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true)',
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")',
    ]


def test_baseline_checks_host_namespaces_ports_paths_privileged() -> None:
    pod = restricted_pod(
        hostNetwork=True,
        hostPID=True,
        volumes=[{"name": "root", "hostPath": {"path": "/"}}, {"name": "e", "emptyDir": {}}],
    )
    c = pod["spec"]["containers"][0]
    c["securityContext"]["privileged"] = True
    c["ports"] = [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 81}]
    c["securityContext"]["capabilities"]["add"] = ["NET_ADMIN", "CHOWN"]
    assert violations(pod, "baseline") == [
        'non-default capabilities (container "app" must not include "NET_ADMIN" in '
        "securityContext.capabilities.add)",
        "host namespaces (hostNetwork=true, hostPID=true)",
        'hostPath volumes (volume "root")',
        'hostPort (container "app" uses hostPorts 8080, 81)',
        'privileged (container "app" must not set securityContext.privileged=true)',
    ]
    # Restricted replaces the baseline capability and hostPath checks with its own.
    assert violations(pod, "restricted") == [
        "host namespaces (hostNetwork=true, hostPID=true)",
        'hostPort (container "app" uses hostPorts 8080, 81)',
        'privileged (container "app" must not set securityContext.privileged=true)',
        'unrestricted capabilities (container "app" must not include "CHOWN", "NET_ADMIN" in '
        "securityContext.capabilities.add)",
        'restricted volume types (volume "root" uses restricted volume type "hostPath")',
    ]


def test_net_bind_service_is_the_one_capability_restricted_allows() -> None:
    pod = restricted_pod()
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert violations(pod, "restricted") == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"runAsNonRoot": False},
            'runAsNonRoot != true (container "app" must not set '
            "securityContext.runAsNonRoot=false)",
        ),
        ({"runAsUser": 0}, 'runAsUser=0 (container "app" must not set runAsUser=0)'),
        (
            {"seccompProfile": {"type": "Unconfined"}},
            'seccompProfile (container "app" must not set securityContext.seccompProfile.type '
            'to "Unconfined")',
        ),
        (
            {"procMount": "Unmasked"},
            'procMount (container "app" must not set securityContext.procMount to "Unmasked")',
        ),
        (
            {"seLinuxOptions": {"type": "spc_t", "user": "root"}},
            'seLinuxOptions (container "app" set forbidden securityContext.seLinuxOptions: '
            'type "spc_t"; user may not be set)',
        ),
        (
            {"appArmorProfile": {"type": "Unconfined"}},
            'forbidden AppArmor profile (container "app" must not set AppArmor profile type to '
            '"Unconfined")',
        ),
        (
            {"allowPrivilegeEscalation": True},
            'allowPrivilegeEscalation != false (container "app" must set '
            "securityContext.allowPrivilegeEscalation=false)",
        ),
    ],
)
def test_container_security_context_fields(change: dict[str, Any], expected: str) -> None:
    pod = restricted_pod()
    pod["spec"]["containers"][0]["securityContext"].update(change)
    assert violations(pod, "restricted") == [expected]


def test_pod_level_settings_and_sysctls_and_volumes() -> None:
    pod = restricted_pod(
        volumes=[
            {"name": "n", "nfs": {"server": "s", "path": "/"}},
            {"name": "g", "gitRepo": {"repository": "r"}},
            {"name": "s", "secret": {"secretName": "x"}},
        ]
    )
    pod["spec"]["securityContext"].update(
        {"runAsUser": 0, "sysctls": [{"name": "kernel.msgmax", "value": "1"}]}
    )
    assert violations(pod, "restricted") == [
        "forbidden sysctls (kernel.msgmax)",
        'restricted volume types (volumes "n", "g" use restricted volume types "gitRepo", "nfs")',
        "runAsUser=0 (pod must not set runAsUser=0)",
    ]


def test_user_namespaces_relax_run_as_checks() -> None:
    pod = restricted_pod(hostUsers=False)
    pod["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 0}
    assert violations(pod, "restricted") == []


def test_init_and_ephemeral_containers_are_checked_too() -> None:
    pod = restricted_pod(initContainers=[{"name": "init", "image": "i"}])
    assert violations(pod, "restricted")[0] == (
        'allowPrivilegeEscalation != false (container "init" must set '
        "securityContext.allowPrivilegeEscalation=false)"
    )


def test_namespace_labels_make_the_policy() -> None:
    assert str(policy({}).enforce) == "privileged:latest"
    p = policy(
        {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "v1.30",
        }
    )
    assert (str(p.enforce), str(p.warn)) == ("baseline:v1.30", "baseline:v1.30")
    # An unknown enforce level fails closed (restricted), unknown warn fails open.
    p = policy(
        {"pod-security.kubernetes.io/enforce": "strict", "pod-security.kubernetes.io/warn": "x"}
    )
    assert (p.enforce.level, p.warn.level) == ("restricted", "privileged")


def test_evaluate_denies_on_enforce_and_warns_otherwise() -> None:
    pod = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    denied = evaluate(pod, {"pod-security.kubernetes.io/enforce": "restricted"})
    assert denied.denied is not None
    assert denied.denied.startswith('violates PodSecurity "restricted:latest": ')
    warned = evaluate(
        pod,
        {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
        },
    )
    assert warned.denied is None
    assert warned.warnings[0].startswith('would violate PodSecurity "restricted:latest": ')


def test_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown Pod Security level 'strict'"):
        podsecurity.violations({}, "strict")


def test_only_image_changes_are_significant_updates() -> None:
    old = restricted_pod()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    new["spec"]["activeDeadlineSeconds"] = 5
    assert not podsecurity.significant_update(old, new)
    new["spec"]["containers"][0]["image"] = "y"
    assert podsecurity.significant_update(old, new)
