"""Render checks for the chart review's findings: each fails on the chart before its fix."""

from __future__ import annotations

from tests.charts.rendering import find, render


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
    objects = render({"credentials": {"secretWrites": {"namespaces": ["team-a"]}}})
    role = find(objects, "Role", "gastown-operator-worker-secrets", "team-a")
    assert {"create", "update", "delete"} <= {v for r in role["rules"] for v in r["verbs"]}
    secret_clusterroles = [
        o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("secrets")
    ]
    assert secret_clusterroles == []


def test_worker_https_egress_excepts_private_ranges() -> None:
    policy = find(render(), "NetworkPolicy", "gastown-operator-worker", "gastown-system")
    https = [r for r in policy["spec"]["egress"] if r.get("ports") == [{"port": 443, "protocol": "TCP"}]]
    assert len(https) == 1
    (block,) = https[0]["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        block["ipBlock"]["except"]
    )
