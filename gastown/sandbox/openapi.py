"""OpenAPI documents, just enough for kubectl 1.32 `apply` and `explain`.

kubectl reads OpenAPI v3 per group-version: `explain` renders the schema found by the
`x-kubernetes-group-version-kind` extension, and `apply` checks the PATCH operation's
`fieldValidation` parameter to decide that the server validates fields itself. OpenAPI v2 is only
fetched (as protobuf) to build a client-side validator kubectl then does not use, so a minimal
valid protobuf document is served.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from gastown.sandbox.resources import Registry, ResourceType

JSON = dict[str, Any]

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_META_SCHEMA: JSON = {
    "description": "ObjectMeta is metadata that all persisted resources must have.",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {"type": "string", "description": "Prefix for a generated name."},
        "namespace": {"type": "string", "description": "Namespace of the object."},
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Map of string keys and values for selecting objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Unstructured key value map.",
        },
        "uid": {"type": "string", "description": "Unique in time and space."},
        "resourceVersion": {"type": "string", "description": "Opaque version for concurrency."},
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "Sequence number of the desired state.",
        },
        "creationTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "When the object was created.",
        },
        "deletionTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "When the object will be deleted.",
        },
        "finalizers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Must be empty before the object is deleted.",
        },
        "ownerReferences": {
            "type": "array",
            "items": {"type": "object"},
            "description": "Objects depended by this object.",
        },
    },
}


def definition_name(rt: ResourceType) -> str:
    group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{group}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> list[JSON]:
    return [{"group": rt.group, "version": rt.version, "kind": rt.kind}]


def _schema(rt: ResourceType) -> JSON:
    base: JSON = (
        copy.deepcopy(rt.schema)
        if rt.schema
        else {
            "type": "object",
            "description": f"{rt.kind} (served by the gastown sandbox; schema not published).",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )
    props = base.setdefault("properties", {})
    props["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned "
        "schema of this representation of an object.",
    }
    props["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the "
        "REST resource this object represents.",
    }
    props["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}],
        "description": "Standard object's metadata.",
    }
    base["x-kubernetes-group-version-kind"] = _gvk(rt)
    return base


def _params() -> list[JSON]:
    return [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for n in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]


def _paths(rt: ResourceType) -> JSON:
    base = f"/api/{rt.version}" if not rt.group else f"/apis/{rt.group}/{rt.version}"
    item = (
        f"{base}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
        if rt.namespaced
        else (f"{base}/{rt.plural}/{{name}}")
    )
    ref = {"$ref": f"#/components/schemas/{definition_name(rt)}"}
    response = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    ext = {
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        }
    }
    ops: JSON = {}
    for verb in ("get", "put", "patch", "delete"):
        ops[verb] = {
            "operationId": f"{verb}{rt.kind}",
            "parameters": _params() if verb in ("put", "patch") else [],
            "responses": response,
            "x-kubernetes-action": {
                "put": "put",
                "patch": "patch",
                "get": "get",
                "delete": "delete",
            }[verb],
            **ext,
        }
    return {item: ops}


def group_version_doc(registry: Registry, group: str, version: str) -> JSON | None:
    types = [rt for rt in registry.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    schemas: JSON = {OBJECT_META: _META_SCHEMA}
    paths: JSON = {}
    for rt in types:
        schemas[definition_name(rt)] = _schema(rt)
        paths.update(_paths(rt))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (gastown sandbox)", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _path_for(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def index(registry: Registry) -> JSON:
    """The /openapi/v3 discovery document; hashes change when a group's schema changes."""
    paths: JSON = {}
    for group, versions in registry.groups().items():
        for version in versions:
            doc = group_version_doc(registry, group, version)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]
            path = _path_for(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
    return {"paths": paths}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def openapi_v2_protobuf() -> bytes:
    """A minimal gnostic openapi_v2.Document: swagger "2.0" and an Info (title, version)."""
    info = _field(1, b"Kubernetes (gastown sandbox)") + _field(2, b"v1.32.0")
    return _field(1, b"2.0") + _field(2, info)
