"""CRDs generated from the pydantic models: the models are the single source of the API.

pydantic's JSON Schema is close to, but not, a Kubernetes structural schema: it uses `$ref`,
spells optional fields as `anyOf [X, null]`, single values as `const` and carries titles. The
apiserver rejects all of that, so `structural()` rewrites the schema into the form the
apiserver (and `kubectl explain`) accept. Pure functions: `crdgen` does the file writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gastown.api import patterns as p
from gastown.api.convoy import Convoy, ConvoySpec, ConvoyStatus
from gastown.api.group import API_VERSION, GROUP, VERSION
from gastown.api.polecat import Polecat, PolecatSpec, PolecatStatus, api_key_rule
from gastown.api.rig import Rig, RigSpec, RigStatus

__all__ = ["API_VERSION", "GROUP", "KINDS", "VERSION"]

Schema = dict[str, Any]

_DROP_KEYS = frozenset({"title", "$defs", "discriminator"})


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""

    def to_k8s(self) -> dict[str, Any]:
        col: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            col["priority"] = self.priority
        if self.description:
            col["description"] = self.description
        return col


AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class Kind:
    """Everything the CRD needs to know about one kind besides its models."""

    model: type[BaseModel]
    spec: type[BaseModel]
    status: type[BaseModel]
    kind: str
    plural: str
    scope: str
    name_pattern: str
    name_max: int
    columns: tuple[PrinterColumn, ...]
    short_names: tuple[str, ...] = ()
    description: str = ""
    required: tuple[str, ...] = ("spec",)
    extra_spec_validations: tuple[dict[str, str], ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


KINDS: tuple[Kind, ...] = (
    Kind(
        model=Rig,
        spec=RigSpec,
        status=RigStatus,
        kind="Rig",
        plural="rigs",
        scope="Cluster",
        name_pattern=p.DNS1123_LABEL,
        name_max=p.DNS1123_LABEL_MAX,
        short_names=("rg",),
        description="A project's git repository and the defaults its polecats inherit.",
        columns=(
            PrinterColumn("Phase", "string", ".status.phase"),
            PrinterColumn("Polecats", "integer", ".status.polecatCount"),
            PrinterColumn("Convoys", "integer", ".status.activeConvoys"),
            AGE,
        ),
    ),
    Kind(
        model=Polecat,
        spec=PolecatSpec,
        status=PolecatStatus,
        kind="Polecat",
        plural="polecats",
        scope="Namespaced",
        name_pattern=p.DNS1123_LABEL,
        name_max=p.POLECAT_NAME_MAX,
        short_names=("pc",),
        description="A worker agent on one bead, run by the durable PolecatWorkflow behind it.",
        # A running polecat cannot move to another rig, bead or repository: its workflow runs
        # with the spec it started with. (The watcher reports the same where CEL is not run.)
        extra_spec_validations=(
            {
                "rule": "self.rig == oldSelf.rig",
                "message": "spec.rig is immutable; create a new polecat for another rig",
            },
            {
                "rule": "!has(oldSelf.beadID) || (has(self.beadID) && "
                "self.beadID == oldSelf.beadID)",
                "message": "spec.beadID cannot change once set; create a new polecat",
            },
            {
                "rule": "!has(oldSelf.kubernetes) || !has(oldSelf.kubernetes.gitRepository) || "
                "(has(self.kubernetes) && has(self.kubernetes.gitRepository) && "
                "self.kubernetes.gitRepository == oldSelf.kubernetes.gitRepository)",
                "message": "spec.kubernetes.gitRepository cannot change once set; "
                "create a new polecat",
            },
            api_key_rule(("kubernetes", "apiKeySecretRef"), "spec.kubernetes.apiKeySecretRef"),
        ),
        columns=(
            PrinterColumn("Rig", "string", ".spec.rig"),
            PrinterColumn("Phase", "string", ".status.phase"),
            PrinterColumn("Bead", "string", ".spec.beadID"),
            PrinterColumn("Pod", "string", ".status.podName"),
            AGE,
            PrinterColumn("Workflow", "string", ".status.workflowID", priority=1),
            PrinterColumn("Branch", "string", ".status.branch", priority=1),
        ),
    ),
    Kind(
        model=Convoy,
        spec=ConvoySpec,
        status=ConvoyStatus,
        kind="Convoy",
        plural="convoys",
        scope="Namespaced",
        name_pattern=p.DNS1123_LABEL,
        name_max=p.DNS1123_LABEL_MAX,
        short_names=("cv",),
        description="A batch of beads dispatched together, a bounded number at a time.",
        columns=(
            PrinterColumn("Progress", "string", ".status.progress"),
            PrinterColumn("Phase", "string", ".status.phase"),
            AGE,
            PrinterColumn("Rig", "string", ".spec.rigRef", priority=1),
            PrinterColumn("Running", "integer", ".status.counts.running", priority=1),
            PrinterColumn("Failed", "integer", ".status.counts.failed", priority=1),
            PrinterColumn("Cost", "number", ".status.costUSD", priority=1),
            PrinterColumn("Workflow", "string", ".status.workflowID", priority=1),
        ),
    ),
)


def _resolve(node: Any, defs: dict[str, Schema]) -> Any:
    """Inline `$ref`s; the apiserver refuses references in CRD schemas."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return {k: _resolve(v, defs) for k, v in node.items()}


def _is_null(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") == "null"


def _simplify(node: Any) -> Any:
    """Rewrite pydantic's spellings into structural-schema ones, bottom up."""
    if isinstance(node, list):
        return [_simplify(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: _simplify(v) for k, v in node.items() if k not in _DROP_KEYS}
    if node.get("default", ...) is None:
        del node["default"]
    any_of = node.get("anyOf")
    if isinstance(any_of, list) and any(_is_null(opt) for opt in any_of):
        rest = [opt for opt in any_of if not _is_null(opt)]
        del node["anyOf"]
        if len(rest) == 1:
            # An optional field is simply one that is not required; the API has no nulls.
            node = {**rest[0], **node}
        else:
            node["anyOf"] = rest
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # JSON Schema 2020 says `exclusiveMinimum: 0`; OpenAPI v3 (the CRD's dialect) says
        # `minimum: 0` with `exclusiveMinimum: true`.
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[inclusive] = node[bound]
            node[bound] = True
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    if "items" in node and "type" not in node:
        node["type"] = "array"
    if node.get("additionalProperties") is False:
        # Structural schemas forbid it beside `properties`; pruning and the apiserver's strict
        # field validation already refuse unknown fields.
        del node["additionalProperties"]
    if ("properties" in node or "additionalProperties" in node) and "type" not in node:
        node["type"] = "object"
    return _ordered(node)


_FIRST_KEYS = ("type", "description", "default", "enum", "format")


def _ordered(node: Schema) -> Schema:
    """Readable YAML: what a node is before how it is constrained."""
    head = {k: node[k] for k in _FIRST_KEYS if k in node}
    return {**head, **{k: v for k, v in node.items() if k not in head}}


def structural(model: type[BaseModel]) -> Schema:
    """The model's validation schema as a Kubernetes structural schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: Schema = _simplify(_resolve(raw, defs))
    _check_structural(schema, path=model.__name__)
    return schema


def _check_structural(node: Schema, path: str) -> None:
    """Fail generation early rather than at `kubectl apply` time."""
    if "$ref" in node:
        raise ValueError(f"{path}: $ref left in schema")
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        raise ValueError(f"{path}: every node of a structural schema needs a type")
    for name, sub in node.get("properties", {}).items():
        _check_structural(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        _check_structural(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        _check_structural(node["additionalProperties"], f"{path}{{}}")


def openapi_schema(kind: Kind) -> Schema:
    spec = structural(kind.spec)
    if kind.extra_spec_validations:
        spec.setdefault("x-kubernetes-validations", []).extend(kind.extra_spec_validations)
    return {
        "type": "object",
        "description": kind.description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "pattern": kind.name_pattern,
                        "maxLength": kind.name_max,
                    }
                },
            },
            "spec": spec,
            "status": structural(kind.status),
        },
        "required": list(kind.required),
    }


def crd(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition object for one kind."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/part-of": "gastown-operator"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": ["gastown"],
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.to_k8s() for c in kind.columns],
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd(kind) for kind in KINDS]
