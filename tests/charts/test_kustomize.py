"""The kustomize base is the chart (generated from it, never drifting), and the real
`kubectl kustomize` renders the base and the OpenShift overlay into what Helm renders with the
same values."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.charts import kustomize_base
from tests.charts.rendering import CHART, ROOT, render
from tests.conftest import KUBECTL

KUSTOMIZE = ROOT / "deploy/kustomize"


def _kustomize(path: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _by_identity(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    keyed = {}
    for obj in objects:
        meta = obj["metadata"]
        keyed[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    assert len(keyed) == len(objects), "two objects with one identity"
    return keyed


def _helm(values: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    crds = [yaml.safe_load(p.read_text()) for p in sorted((CHART / "crds").glob("*.yaml"))]
    return _by_identity(crds + [kustomize_base.unhelmed(o) for o in render(values)])


def test_committed_base_is_what_the_chart_generates() -> None:
    expected = kustomize_base.files()
    committed = {
        str(p.relative_to(kustomize_base.BASE)): p.read_text()
        for p in kustomize_base.BASE.rglob("*.yaml")
    }
    assert committed.keys() == expected.keys(), "run: make kustomize"
    for name, text in expected.items():
        assert committed[name] == text, f"{name} drifted: run make kustomize"


def test_base_renders_as_the_chart_with_defaults() -> None:
    rendered = _by_identity(_kustomize(KUSTOMIZE / "base"))
    assert rendered == _helm(kustomize_base.VALUES)
    ns = rendered[("Namespace", "", "gastown-system")]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_openshift_overlay_renders_as_the_chart_with_openshift_true() -> None:
    rendered = _by_identity(_kustomize(KUSTOMIZE / "overlays/openshift"))
    assert rendered == _helm({**kustomize_base.VALUES, "openshift": True})
    worker = rendered[("Deployment", "gastown-system", "gastown-operator-worker")]
    assert "runAsUser" not in worker["spec"]["template"]["spec"]["securityContext"]
