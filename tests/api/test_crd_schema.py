"""The generated CRDs: structural, in sync with the models, and validating like the API server.

jsonschema evaluates the committed openAPIV3Schema as the API server would, with two
emulations: the server's strict field validation (kubectl's default) refuses unknown fields,
which we reproduce by closing every object that lists its properties; and `pattern` is read
with Go's regexp semantics and numeric bounds as OpenAPI v3 has them (the sandbox's validator:
`$` is the end of the text; `exclusiveMinimum: true` modifies `minimum`). CEL rules
(x-kubernetes-validations) are not evaluated here; the Python side tests them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gastown.api import crdgen
from gastown.api.crd import GROUP, KINDS, VERSION
from gastown.sandbox.schema import ApiServerValidator
from tests.api.cases import CASES, Case, document

ROOT = Path(__file__).parents[2]
SEED_EXAMPLES = sorted((ROOT / "deploy/samples").glob("*.yaml"))


def _load(plural: str) -> dict[str, Any]:
    path = ROOT / "deploy/crds" / f"{plural}.{GROUP}.yaml"
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _schema(kind: str) -> dict[str, Any]:
    crd = _load(f"{kind.lower()}s")
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    # metadata is the API server's ObjectMeta, not ours to close.
    out = {k: (v if k == "metadata" else _strict(v)) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = _strict(copy.deepcopy(_schema(kind)))
    # OpenAPI v3's schema object is draft 4's dialect where it matters here: a boolean
    # `exclusiveMinimum` beside `minimum` (draft 7 made it a number, which a CRD may not say).
    jsonschema.Draft4Validator.check_schema(schema)
    return ApiServerValidator(schema, format_checker=jsonschema.FormatChecker())


def test_committed_crds_match_the_models() -> None:
    stale = crdgen.stale_files(ROOT)
    assert stale == [], f"run `make crds`: {stale}"


def test_chart_and_deploy_copies_are_identical() -> None:
    for kind in KINDS:
        name = crdgen.filename(kind)
        chart = (ROOT / "charts/gastown-operator/crds" / name).read_text()
        assert chart == (ROOT / "deploy/crds" / name).read_text()


def _walk(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.get("properties", {}).items():
            found += _walk(value, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                found += _walk(node[key], f"{path}.{key}")
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind: Any) -> None:
    text = (ROOT / "deploy/crds" / crdgen.filename(kind)).read_text()
    assert "$ref" not in text and "$defs" not in text and "title:" not in text
    for path, node in _walk(_schema(kind.kind)):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert "anyOf" not in node or node.get("x-kubernetes-int-or-string"), path
        assert "nullable" not in node, path


def test_quantities_are_int_or_string() -> None:
    limits = _schema("Polecat")["properties"]["spec"]["properties"]["resources"]["properties"][
        "limits"
    ]
    assert limits["additionalProperties"]["x-kubernetes-int-or-string"] is True


@pytest.mark.parametrize(
    ("plural", "scope", "columns"),
    [
        ("rigs", "Cluster", [("Phase", 0), ("Polecats", 0), ("Convoys", 0), ("Age", 0)]),
        (
            "polecats",
            "Namespaced",
            [
                *[("Rig", 0), ("Phase", 0), ("Bead", 0), ("Pod", 0), ("Age", 0)],
                *[("Workflow", 1), ("Branch", 1)],
            ],
        ),
        (
            "convoys",
            "Namespaced",
            [
                *[("Progress", 0), ("Phase", 0), ("Age", 0)],
                *[("Rig", 1), ("Running", 1), ("Failed", 1), ("Cost", 1), ("Workflow", 1)],
            ],
        ),
    ],
)
def test_scope_subresource_and_printer_columns(
    plural: str, scope: str, columns: list[tuple[str, int]]
) -> None:
    crd = _load(plural)
    assert crd["spec"]["scope"] == scope
    assert crd["spec"]["group"] == GROUP
    (version,) = crd["spec"]["versions"]
    assert version["name"] == VERSION and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    got = [(c["name"], c.get("priority", 0)) for c in version["additionalPrinterColumns"]]
    assert got == columns


@pytest.mark.parametrize("path", SEED_EXAMPLES, ids=lambda p: p.name)
def test_seed_examples_validate_against_the_crd(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] in ("Polecat", "Convoy"), path.name
    errors = list(_validator(doc["kind"]).iter_errors(doc))
    assert errors == []


@pytest.mark.parametrize("case", [c for c in CASES if c.valid], ids=lambda c: c.id)
def test_crd_accepts_valid_values(case: Case) -> None:
    errors = list(_validator(case.kind).iter_errors(document(case)))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("case", [c for c in CASES if not c.valid], ids=lambda c: c.id)
def test_crd_refuses_invalid_values_at_the_field(case: Case) -> None:
    errors = list(_validator(case.kind).iter_errors(document(case)))
    assert errors, "accepted"
    field = list(case.path)
    # The error sits at the field, or (unknown/missing key) at its parent object.
    assert any(list(e.absolute_path)[: len(field)] in (field, field[:-1]) for e in errors), [
        (list(e.absolute_path), e.message) for e in errors
    ]


def test_crd_defaults_are_declared() -> None:
    spec = _schema("Polecat")["properties"]["spec"]["properties"]
    assert spec["desiredState"]["default"] == "Idle"
    assert spec["agent"]["default"] == "claude-code"
    rig = _schema("Rig")["properties"]["spec"]["properties"]["settings"]["properties"]
    assert rig["maxPolecats"]["default"] == 8
    assert rig["namepoolTheme"]["default"] == "mad-max"
