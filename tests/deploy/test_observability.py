"""deploy/observability/: the Grafana dashboard against a schema of the structure it uses
(Grafana publishes none for dashboard JSON), and the alert rules against the shape of a
Prometheus rule file. That every query names a series the endpoints really expose is checked
after a real run, in tests/e2e/test_metrics.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests import promtext

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "deploy" / "observability"
DASHBOARD = HERE / "gastown-dashboard.json"
RULES = HERE / "gastown-alerts.yaml"

DATASOURCE = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
GRID = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "legendFormat": {"type": "string"},
        "datasource": DATASOURCE,
    },
    "additionalProperties": False,
}
PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["row", "stat", "timeseries", "bargauge", "table", "gauge"]},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "gridPos": GRID,
        "datasource": DATASOURCE,
        "targets": {"type": "array", "items": TARGET},
        "fieldConfig": {
            "type": "object",
            "required": ["defaults", "overrides"],
            "properties": {
                "defaults": {"type": "object", "properties": {"unit": {"type": "string"}}},
                "overrides": {"type": "array"},
            },
        },
        "options": {"type": "object"},
        "collapsed": {"type": "boolean"},
        "panels": {"type": "array", "maxItems": 0},
    },
    "additionalProperties": False,
    # Every panel but a row shows queries from the dashboard's data source.
    "if": {"properties": {"type": {"not": {"const": "row"}}}},
    "then": {
        "required": ["datasource", "targets", "fieldConfig"],
        "properties": {"targets": {"minItems": 1}},
    },
}
VARIABLE = {
    "type": "object",
    "required": ["name", "type"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z_]+$"},
        "type": {"enum": ["datasource", "query"]},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "query"}}},
            "then": {
                "required": ["query", "datasource"],
                "properties": {
                    "query": {
                        "type": "object",
                        "required": ["query"],
                        "properties": {"query": {"pattern": r"^label_values\(\w+, \w+\)$"}},
                    }
                },
            },
        },
        {
            "if": {"properties": {"type": {"const": "datasource"}}},
            "then": {"required": ["query"], "properties": {"query": {"const": "prometheus"}}},
        },
    ],
}
DASHBOARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {"type": "array", "minItems": 1, "items": PANEL},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": VARIABLE}},
        },
        "time": {"type": "object", "required": ["from", "to"]},
        "id": {"not": {}},  # an imported dashboard gets its id from Grafana
    },
}

RULE = {
    "type": "object",
    "required": ["alert", "expr"],
    "properties": {
        "alert": {"type": "string", "pattern": "^[A-Z][A-Za-z0-9]+$"},
        "expr": {"type": "string", "minLength": 1},
        "for": {"type": "string", "pattern": r"^[0-9]+[smhd]$"},
        "labels": {
            "type": "object",
            "required": ["severity"],
            "additionalProperties": {"type": "string"},
        },
        "annotations": {
            "type": "object",
            "required": ["summary", "description"],
            "additionalProperties": {"type": "string"},
        },
    },
    "additionalProperties": False,
}
RULE_FILE = {
    "type": "object",
    "required": ["groups"],
    "properties": {
        "groups": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "rules"],
                "properties": {
                    "name": {"type": "string"},
                    "interval": {"type": "string"},
                    "rules": {"type": "array", "minItems": 1, "items": RULE},
                },
                "additionalProperties": False,
            },
        }
    },
    "additionalProperties": False,
}


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def test_dashboard_matches_its_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(DASHBOARD_SCHEMA)
    jsonschema.validate(dashboard(), DASHBOARD_SCHEMA, cls=jsonschema.Draft202012Validator)


def test_the_schema_refuses_what_grafana_would_not_show() -> None:
    """The schema is not a rubber stamp: a panel without queries, one off the grid, a query
    of another data source."""
    for breakage in (
        lambda d: d["panels"][1].pop("targets"),
        lambda d: d["panels"][1]["gridPos"].update(w=30),
        lambda d: d["panels"][1]["targets"][0]["datasource"].update(uid="grafana"),
        lambda d: d.update(id=7),
    ):
        broken = dashboard()
        breakage(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, DASHBOARD_SCHEMA, cls=jsonschema.Draft202012Validator)


def test_dashboard_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        cells |= mine


def test_every_dashboard_query_names_our_or_the_sdks_series() -> None:
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            names = promtext.series_names(target["expr"])
            assert names, target["expr"]
            assert all(re.match(r"^(gastown|temporal)_", n) for n in names), names


def test_alert_rules_are_a_prometheus_rule_file() -> None:
    doc = yaml.safe_load(RULES.read_text())
    jsonschema.validate(doc, RULE_FILE, cls=jsonschema.Draft202012Validator)
    alerts = [r["alert"] for g in doc["groups"] for r in g["rules"]]
    assert len(alerts) == len(set(alerts))
    # What the issue asks to alert on.
    assert {"GastownPolecatsStuck", "GastownCredentialsExpiringSoon", "GastownPolecatFailureRate",
            "GastownQueueBackingUp"} <= set(alerts)  # fmt: skip
    for group in doc["groups"]:
        for rule in group["rules"]:
            expr = rule["expr"]
            assert expr.count("(") == expr.count(")"), rule["alert"]
            assert promtext.series_names(expr), rule["alert"]
