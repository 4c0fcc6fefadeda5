"""`kubectl apply --server-side` of the rendered chart, with the real kubectl, into the
cluster under test (the sandbox by default)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import yaml

from tests.charts.rendering import render

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _contains(live: Any, applied: Any) -> bool:
    """Everything applied is live (the server may add defaults and status)."""
    if isinstance(applied, dict):
        return isinstance(live, dict) and all(
            k in live and _contains(live[k], v) for k, v in applied.items()
        )
    if isinstance(applied, list):
        return (
            isinstance(live, list)
            and len(live) == len(applied)
            and all(_contains(a, b) for a, b in zip(live, applied, strict=True))
        )
    return bool(live == applied)


def _apply(kubectl: Kubectl, objects: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return kubectl(
        "apply",
        "--server-side",
        "--field-manager=gastown-chart-test",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(objects),
    )


def _live(kubectl: Kubectl, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    group = obj["apiVersion"].rpartition("/")[0]
    kind = f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()
    where = ["-n", meta["namespace"]] if "namespace" in meta else []
    got = kubectl("get", kind, meta["name"], *where, "-o", "json")
    assert got.returncode == 0, got.stderr
    live: dict[str, Any] = json.loads(got.stdout)
    return live


def test_server_side_apply_of_the_rendered_chart(kubectl: Kubectl, namespace: str) -> None:
    release = f"gt-{namespace}"  # cluster-scoped names (ClusterRoles) unique per test
    values: dict[str, Any] = {
        "clusterWide": True,
        "polecatNamespaces": [namespace],
        "worker": {"replicas": 2},
    }
    objects = render(values, release=release, namespace=namespace)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "ClusterRole", "RoleBinding", "NetworkPolicy"} <= kinds

    applied = _apply(kubectl, objects)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("serverside-applied") == len(objects)
    for obj in objects:
        live = _live(kubectl, obj)
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        assert _contains(live, body), f"{obj['kind']} {obj['metadata']['name']}"

    # Applying again is accepted; a changed value changes that field.
    assert _apply(kubectl, objects).returncode == 0
    scaled = render({**values, "worker": {"replicas": 3}}, release=release, namespace=namespace)
    changed = _apply(kubectl, scaled)
    assert changed.returncode == 0, changed.stderr
    (worker,) = [
        o
        for o in scaled
        if o["metadata"]["name"] == f"{release}-gastown-operator-worker"
        and o["kind"] == "Deployment"
    ]
    assert _live(kubectl, worker)["spec"]["replicas"] == 3
