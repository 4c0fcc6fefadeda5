"""The Helm chart, linted and loaded by Helm's own Go SDK (helm-python-sdk), no helm binary."""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import yaml

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts/gastown-operator"


def test_chart_lints_clean_in_strict_mode() -> None:
    report = helm.lint(CHART, {"watchNamespaces": ["team-a"]}, strict=True, kube_version="v1.32.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == []
    assert problems == []


def test_chart_ships_exactly_the_generated_crds() -> None:
    with helm.Chart.load(CHART) as chart:
        shipped = {Path(c["filename"]).name: c["data"] for c in chart.crds}
    generated = {p.name: p.read_text() for p in (ROOT / "deploy/crds").glob("*.yaml")}
    assert (
        shipped.keys()
        == generated.keys()
        == {
            "rigs.gastown.gastown.io.yaml",
            "polecats.gastown.gastown.io.yaml",
            "convoys.gastown.gastown.io.yaml",
        }
    )
    for name, data in shipped.items():
        assert yaml.safe_load(data) == yaml.safe_load(generated[name])
