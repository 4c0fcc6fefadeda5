"""Server-side apply in the sandbox, driven by the real `kubectl apply --server-side`: field
managers recorded, fields a manager stops applying removed, conflicts refused unless forced
(gastown/sandbox/patch.py says what is simplified)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import yaml

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _cm(namespace: str, data: dict[str, str], labels: dict[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": "settings", "namespace": namespace}
    if labels:
        meta["labels"] = labels
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data:
        doc["data"] = data
    return yaml.safe_dump(doc)


def _apply(
    kubectl: Kubectl, doc: str, manager: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return kubectl(
        "apply", "--server-side", f"--field-manager={manager}", *extra, "-f", "-", stdin=doc
    )


def _get(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    got = kubectl(
        "get", "configmap", "settings", "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    assert got.returncode == 0, got.stderr
    live: dict[str, Any] = json.loads(got.stdout)
    return live


def _owners(live: dict[str, Any]) -> dict[str, Any]:
    return {e["manager"]: e["fieldsV1"] for e in live["metadata"]["managedFields"]}


def test_apply_records_the_manager_and_removes_what_it_no_longer_applies(
    kubectl: Kubectl, namespace: str
) -> None:
    first = _apply(kubectl, _cm(namespace, {"a": "1", "b": "2"}, {"tier": "x"}), "alice")
    assert first.returncode == 0, first.stderr
    assert "serverside-applied" in first.stdout
    live = _get(kubectl, namespace)
    assert live["data"] == {"a": "1", "b": "2"}
    assert _owners(live) == {
        "alice": {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:tier": {}}}}
    }
    assert live["metadata"]["managedFields"][0]["operation"] == "Apply"

    # Applied again without b and the label: both go; a changes.
    again = _apply(kubectl, _cm(namespace, {"a": "3"}), "alice")
    assert again.returncode == 0, again.stderr
    live = _get(kubectl, namespace)
    assert live["data"] == {"a": "3"}
    assert "tier" not in (live["metadata"].get("labels") or {})


def test_a_conflict_is_refused_unless_forced_and_shared_fields_stay(
    kubectl: Kubectl, namespace: str
) -> None:
    assert _apply(kubectl, _cm(namespace, {"a": "1", "b": "2"}), "alice").returncode == 0
    # bob applies the same b (shared, no conflict) and a different a (a conflict).
    refused = _apply(kubectl, _cm(namespace, {"a": "9", "b": "2"}), "bob")
    assert refused.returncode != 0
    assert 'conflict with "alice": .data.a' in refused.stderr
    assert _get(kubectl, namespace)["data"] == {"a": "1", "b": "2"}

    forced = _apply(kubectl, _cm(namespace, {"a": "9", "b": "2"}), "bob", "--force-conflicts")
    assert forced.returncode == 0, forced.stderr
    live = _get(kubectl, namespace)
    assert live["data"] == {"a": "9", "b": "2"}
    assert _owners(live) == {
        "alice": {"f:data": {"f:b": {}}},
        "bob": {"f:data": {"f:a": {}, "f:b": {}}},
    }
    # alice stops applying b: bob still applies it, so it stays.
    assert _apply(kubectl, _cm(namespace, {}), "alice").returncode == 0
    assert _get(kubectl, namespace)["data"] == {"a": "9", "b": "2"}
