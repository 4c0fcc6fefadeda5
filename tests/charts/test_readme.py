"""The chart's README documents every value and every RBAC rule the chart renders, and nothing
else: its tables are checked against values.yaml and the rendered roles."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.charts.rendering import CHART, CLUSTER_WIDE, render

README = (CHART / "README.md").read_text()
# Values whose default is an object of Kubernetes fields, documented as one row.
OPAQUE = {"resources"}


def _rows(heading: str) -> list[list[str]]:
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows[1:]  # the header


def _leaves(values: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in OPAQUE:
            out |= _leaves(value, f"{path}.")
        else:
            out.add(path)
    return out


def test_every_value_is_documented_and_nothing_else() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    documented = {row[0].strip("`") for row in _rows("Values")}
    assert documented == _leaves(values)


def _granted(objects: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """(component, apiGroup, resource, verb) of every rule, resourceNames in the resource."""
    grants = set()
    for obj in objects:
        if obj["kind"] not in ("ClusterRole", "Role"):
            continue
        component = obj["metadata"]["name"].removeprefix("gastown-operator-")
        for rule in obj["rules"]:
            names = rule.get("resourceNames")
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    shown = (
                        f"{resource} (resourceNames: `watcher.leaseName`)" if names else resource
                    )
                    for verb in rule["verbs"]:
                        grants.add((component, group, shown, verb))
    return grants


def test_rbac_table_is_exactly_the_rendered_rules() -> None:
    table = set()
    for component, group, resource, verbs, code in _rows(
        "RBAC: each rule and the code that needs it"
    ):
        assert re.search(r"`[^`]+`", code), f"no code named for {component} {resource}"
        for verb in verbs.split(", "):
            table.add((component, "" if group == '""' else group, resource, verb))
    assert table == _granted(render(CLUSTER_WIDE))
