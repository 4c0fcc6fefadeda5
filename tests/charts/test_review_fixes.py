"""Render checks for the chart review's findings: each fails on the chart before its fix."""

from __future__ import annotations

import re
from pathlib import Path

import helm_python as helm
import pytest

from tests.charts.rendering import CHART, CLUSTER_WIDE, NAMESPACE, RELEASE, ROOT, args, find, render


def _install_doc_values() -> dict[str, list[str]]:
    """The --set 'xNamespaces={..}' of docs/install.md's first helm install, as values."""
    doc = (ROOT / "docs/install.md").read_text()
    command = doc[doc.index("helm install gastown-operator") :].split("\n\n", 1)[0]
    found = re.findall(r"--set '(\w+)=\{([^}]*)\}'", command)
    return {key: items.split(",") for key, items in found}


def test_the_documented_install_grants_no_cluster_wide_pods_or_secrets() -> None:
    values = _install_doc_values()
    assert values == {"watchNamespaces": ["team-a"]}
    objects = render(values)
    cluster_resources = {
        resource
        for o in objects
        if o["kind"] == "ClusterRole"
        for rule in o["rules"]
        for resource in rule["resources"]
    }
    assert cluster_resources <= {"rigs", "rigs/status"}
    role = find(objects, "Role", "gastown-operator-worker", "team-a")
    assert "pods" in {r for rule in role["rules"] for r in rule["resources"]}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "watchNamespaces is empty"),
        ({"watchNamespaces": ["team-a"], "clusterWide": True}, "both set"),
    ],
)
def test_cluster_wide_is_opt_in_and_never_ambiguous(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(helm.errors.HelmRenderError, match=message):
        render(values)


def test_cluster_wide_install_says_so_in_the_notes() -> None:
    with helm.Chart.load(CHART) as chart:
        notes = chart.render(CLUSTER_WIDE, name=RELEASE, namespace=NAMESPACE, is_install=True)
    text = next(v for k, v in notes.items() if k.endswith("NOTES.txt"))
    assert "WARNING: cluster-wide install" in text
    assert "kube-system" in text


def test_readme_and_install_doc_never_show_a_polecat_namespaces_only_install() -> None:
    for path in (
        CHART / "README.md",
        ROOT / "docs/install.md",
        Path(CHART / "templates/NOTES.txt"),
    ):
        assert "--set 'polecatNamespaces=" not in path.read_text(), path


def test_polecat_service_account_carries_the_polecat_pull_secrets() -> None:
    objects = render(
        {
            "watchNamespaces": ["team-a"],
            "polecat": {"imagePullSecrets": ["registry-creds"]},
        }
    )
    account = find(objects, "ServiceAccount", "gastown-polecat", "team-a")
    assert account["imagePullSecrets"] == [{"name": "registry-creds"}]


def test_secret_write_namespaces_give_roles_even_without_watch_namespaces() -> None:
    objects = render({**CLUSTER_WIDE, "credentials": {"secretWrites": {"namespaces": ["team-a"]}}})
    role = find(objects, "Role", "gastown-operator-worker-secrets", "team-a")
    assert {"create", "update", "delete"} <= {v for r in role["rules"] for v in r["verbs"]}
    secret_clusterroles = [
        o
        for o in objects
        if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("secrets")
    ]
    assert secret_clusterroles == []


def test_worker_https_egress_excepts_private_ranges() -> None:
    policy = find(
        render(CLUSTER_WIDE), "NetworkPolicy", "gastown-operator-worker", "gastown-system"
    )
    https = [
        r for r in policy["spec"]["egress"] if r.get("ports") == [{"port": 443, "protocol": "TCP"}]
    ]
    assert len(https) == 1
    (block,) = https[0]["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        block["ipBlock"]["except"]
    )


def test_a_namespaced_install_refuses_polecat_namespaces_that_miss_a_served_one() -> None:
    values = {"watchNamespaces": ["team-a", "team-b"], "polecatNamespaces": ["team-a"]}
    with pytest.raises(helm.errors.HelmRenderError, match=r"missing: team-b"):
        render(values)
    objects = render({**values, "polecatNamespaces": ["team-a", "team-b", "agents"]})
    for ns in ("team-a", "team-b"):
        find(objects, "ServiceAccount", "gastown-polecat", ns)


def test_cluster_wide_worker_serves_only_where_the_polecat_account_exists() -> None:
    objects = render({**CLUSTER_WIDE, "polecatNamespaces": ["agents", "team-c"]})
    worker = args(objects, "gastown-operator-worker")
    assert "--pod-service-account=gastown-polecat" in worker
    served = [a.split("=", 1)[1] for a in worker if a.startswith("--serve-namespace=")]
    assert served == ["agents", "team-c"]
    for ns in served:
        find(objects, "ServiceAccount", "gastown-polecat", ns)
    # No polecat account: the worker names none and serves every namespace.
    bare = args(render(CLUSTER_WIDE), "gastown-operator-worker")
    assert not [a for a in bare if a.startswith(("--serve-namespace", "--pod-service-account"))]
