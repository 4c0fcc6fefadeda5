"""Decoding of the Kubernetes protobuf request bodies kubectl's typed clients send.

`kubectl create secret|configmap|namespace|serviceaccount|token|role|rolebinding|...` and
`kubectl auth can-i|whoami` post `application/vnd.kubernetes.protobuf` and do not fall back to
JSON, so the sandbox decodes those kinds (request bodies only; responses are always JSON, which
the clients accept). Field numbers are those of
k8s.io/api/core/v1/generated.proto and apimachinery's meta/v1 and runtime.Unknown.
"""

from __future__ import annotations

import base64
from typing import Any

from gastown.sandbox.errors import ApiError

JSON = dict[str, Any]
MAGIC = b"k8s\x00"

# A field spec: (json name, kind[, nested spec]); kinds: str, b64 (bytes as base64), int, bool,
# map (string->string), mapb64 (string->bytes), msg, repstr, repmsg.
Spec = dict[int, tuple[Any, ...]]

OWNER_REF: Spec = {
    1: ("kind", "str"),
    3: ("name", "str"),
    4: ("uid", "str"),
    5: ("apiVersion", "str"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META: Spec = {
    1: ("name", "str"),
    2: ("generateName", "str"),
    3: ("namespace", "str"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
    13: ("ownerReferences", "repmsg", OWNER_REF),
    14: ("finalizers", "repstr"),
}
OBJECT_REF: Spec = {1: ("kind", "str"), 2: ("namespace", "str"), 3: ("name", "str")}
RESOURCE_ATTRIBUTES: Spec = {
    1: ("namespace", "str"),
    2: ("verb", "str"),
    3: ("group", "str"),
    4: ("version", "str"),
    5: ("resource", "str"),
    6: ("subresource", "str"),
    7: ("name", "str"),
}
NON_RESOURCE_ATTRIBUTES: Spec = {1: ("path", "str"), 2: ("verb", "str")}
SUBJECT_ACCESS_REVIEW: Spec = {
    1: ("metadata", "msg", OBJECT_META),
    2: (
        "spec",
        "msg",
        {
            1: ("resourceAttributes", "msg", RESOURCE_ATTRIBUTES),
            2: ("nonResourceAttributes", "msg", NON_RESOURCE_ATTRIBUTES),
            3: ("user", "str"),
            4: ("groups", "repstr"),
            6: ("uid", "str"),
        },
    ),
}
# rbac.authorization.k8s.io/v1 (`kubectl create role|clusterrole|rolebinding|...`).
POLICY_RULE: Spec = {
    1: ("verbs", "repstr"),
    2: ("apiGroups", "repstr"),
    3: ("resources", "repstr"),
    4: ("resourceNames", "repstr"),
    5: ("nonResourceURLs", "repstr"),
}
LABEL_SELECTOR: Spec = {
    1: ("matchLabels", "map"),
    2: (
        "matchExpressions",
        "repmsg",
        {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "repstr")},
    ),
}
BINDING: Spec = {
    1: ("metadata", "msg", OBJECT_META),
    2: (
        "subjects",
        "repmsg",
        {1: ("kind", "str"), 2: ("apiGroup", "str"), 3: ("name", "str"), 4: ("namespace", "str")},
    ),
    3: ("roleRef", "msg", {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")}),
}
KINDS: dict[str, Spec] = {
    "SelfSubjectAccessReview": {
        1: ("metadata", "msg", OBJECT_META),
        2: (
            "spec",
            "msg",
            {
                1: ("resourceAttributes", "msg", RESOURCE_ATTRIBUTES),
                2: ("nonResourceAttributes", "msg", NON_RESOURCE_ATTRIBUTES),
            },
        ),
    },
    "SubjectAccessReview": SUBJECT_ACCESS_REVIEW,
    "LocalSubjectAccessReview": SUBJECT_ACCESS_REVIEW,
    "SelfSubjectRulesReview": {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", {1: ("namespace", "str")}),
    },
    "SelfSubjectReview": {1: ("metadata", "msg", OBJECT_META)},
    "TokenRequest": {
        1: ("metadata", "msg", OBJECT_META),
        2: (
            "spec",
            "msg",
            {
                1: ("audiences", "repstr"),
                3: (
                    "boundObjectRef",
                    "msg",
                    {
                        1: ("kind", "str"),
                        2: ("apiVersion", "str"),
                        3: ("name", "str"),
                        4: ("uid", "str"),
                    },
                ),
                4: ("expirationSeconds", "int"),
            },
        ),
    },
    "Role": {1: ("metadata", "msg", OBJECT_META), 2: ("rules", "repmsg", POLICY_RULE)},
    "ClusterRole": {
        1: ("metadata", "msg", OBJECT_META),
        2: ("rules", "repmsg", POLICY_RULE),
        3: ("aggregationRule", "msg", {1: ("clusterRoleSelectors", "repmsg", LABEL_SELECTOR)}),
    },
    "RoleBinding": BINDING,
    "ClusterRoleBinding": BINDING,
    "Secret": {
        1: ("metadata", "msg", OBJECT_META),
        2: ("data", "mapb64"),
        3: ("type", "str"),
        4: ("stringData", "map"),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "msg", OBJECT_META),
        2: ("data", "map"),
        3: ("binaryData", "mapb64"),
        4: ("immutable", "bool"),
    },
    "Namespace": {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", {1: ("finalizers", "repstr")}),
    },
    "ServiceAccount": {
        1: ("metadata", "msg", OBJECT_META),
        2: ("secrets", "repmsg", OBJECT_REF),
        3: ("imagePullSecrets", "repmsg", {1: ("name", "str")}),
        4: ("automountServiceAccountToken", "bool"),
    },
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Raw (field number, value) pairs: ints for varints, bytes for length-delimited."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _map_entry(raw: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, v in fields(raw):
        if number == 1 and isinstance(v, bytes):
            key = v.decode()
        elif number == 2 and isinstance(v, bytes):
            value = v
    return key, value


def decode_message(raw: bytes, spec: Spec) -> JSON:
    out: JSON = {}
    for number, value in fields(raw):
        if number not in spec:
            continue
        name, kind, *nested = spec[number]
        if kind == "str" and isinstance(value, bytes):
            if value:  # Go marshals empty strings; JSON's omitempty drops them
                out[name] = value.decode()
        elif kind == "int" and isinstance(value, int):
            out[name] = value
        elif kind == "bool" and isinstance(value, int):
            out[name] = bool(value)
        elif kind in ("map", "mapb64") and isinstance(value, bytes):
            key, item = _map_entry(value)
            out.setdefault(name, {})[key] = (
                item.decode() if kind == "map" else base64.b64encode(item).decode()
            )
        elif kind == "msg" and isinstance(value, bytes):
            out[name] = decode_message(value, nested[0])
        elif kind == "repstr" and isinstance(value, bytes):
            out.setdefault(name, []).append(value.decode())
        elif kind == "repmsg" and isinstance(value, bytes):
            out.setdefault(name, []).append(decode_message(value, nested[0]))
    return out


def decode(body: bytes) -> JSON:
    """A `k8s\\0`-prefixed runtime.Unknown carrying one of KINDS, as a JSON-shaped object."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "protobuf body without the k8s magic prefix")
    api_version = kind = ""
    raw = b""
    try:
        for number, value in fields(body[len(MAGIC) :]):
            if number == 1 and isinstance(value, bytes):
                for n, v in fields(value):
                    if n == 1 and isinstance(v, bytes):
                        api_version = v.decode()
                    elif n == 2 and isinstance(v, bytes):
                        kind = v.decode()
            elif number == 2 and isinstance(value, bytes):
                raw = value
        spec = KINDS.get(kind)
        if spec is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the sandbox decodes protobuf only for "
                f"{', '.join(sorted(KINDS))} (got {kind or 'unknown'}); use JSON",
            )
        return {"apiVersion": api_version, "kind": kind, **decode_message(raw, spec)}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"malformed protobuf body: {exc}") from exc
