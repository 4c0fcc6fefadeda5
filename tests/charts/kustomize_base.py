"""Writes deploy/kustomize/base from the chart, so the chart stays the one source of truth.

    make kustomize        # .venv/bin/python -m tests.charts.kustomize_base

The base is the chart rendered with its defaults and clusterWide (release `gastown-operator` in
`gastown-system`, the Namespace with its restricted Pod Security labels included) plus the
chart's CRDs; only Helm's own labels are changed (no helm.sh/chart, managed-by kustomize).
tests/charts/test_kustomize.py fails when the committed files differ from what this writes.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.charts.rendering import CHART, ROOT, render

BASE = ROOT / "deploy/kustomize/base"
VALUES: dict[str, Any] = {"namespace": {"create": True}, "clusterWide": True}
HEADER = (
    "# Generated from charts/gastown-operator by `python -m tests.charts.kustomize_base`;"
    " do not edit.\n"
)


def _relabel(labels: dict[str, str]) -> None:
    labels.pop("helm.sh/chart", None)
    if labels.get("app.kubernetes.io/managed-by") == "Helm":
        labels["app.kubernetes.io/managed-by"] = "kustomize"


def unhelmed(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without Helm's own labels (selectors are untouched: they carry neither)."""
    _relabel(obj["metadata"].get("labels") or {})
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        _relabel(template["metadata"].get("labels") or {})
    return obj


def _file(kind: str) -> str:
    return {
        "Namespace": "namespace.yaml",
        "ServiceAccount": "serviceaccounts.yaml",
        "ClusterRole": "rbac.yaml",
        "ClusterRoleBinding": "rbac.yaml",
        "Role": "rbac.yaml",
        "RoleBinding": "rbac.yaml",
        "Deployment": "deployments.yaml",
        "Service": "services.yaml",
        "PodDisruptionBudget": "pdb.yaml",
        "NetworkPolicy": "networkpolicies.yaml",
    }[kind]


def files(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Relative path → content of every file of the base."""
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in render(values if values is not None else VALUES):
        out.setdefault(_file(obj["kind"]), []).append(unhelmed(obj))
    docs = {name: HEADER + yaml.safe_dump_all(objs, sort_keys=False) for name, objs in out.items()}
    crds = sorted((CHART / "crds").glob("*.yaml"))
    for crd in crds:
        docs[f"crds/{crd.name}"] = crd.read_text()
    order = [
        "namespace.yaml",
        *(f"crds/{c.name}" for c in crds),
        "serviceaccounts.yaml",
        "rbac.yaml",
        "deployments.yaml",
        "services.yaml",
        "pdb.yaml",
        "networkpolicies.yaml",
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [name for name in order if name in docs],
    }
    docs["kustomization.yaml"] = HEADER + yaml.safe_dump(kustomization, sort_keys=False)
    return docs


def main() -> None:
    for old in BASE.rglob("*.yaml"):
        old.unlink()
    for name, text in files().items():
        path = BASE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
