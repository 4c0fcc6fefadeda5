"""Structural-schema handling for custom resources, as the apiserver does it on every write.

Order, as in apiextensions-apiserver: prune unknown fields, apply defaults, then validate,
reporting errors by field path (`spec.maxTurns`) with the apiserver's wording so clients that
show messages to people show the same text here. CEL rules (x-kubernetes-validations) are not
evaluated; docs/sandbox.md says so.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema

JSON = dict[str, Any]
Cause = tuple[str, str, str]

_ROOT_KEEP = {"apiVersion", "kind", "metadata"}


def apply_defaults(schema: JSON, value: Any) -> Any:
    """Fill `default`s for absent properties, recursively (defaults are themselves defaulted)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name, sub in props.items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in list(value):
                if name not in props:
                    value[name] = apply_defaults(extra, value[name])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def prune(schema: JSON, value: Any, path: str = "", root: bool = True) -> list[str]:
    """Drop fields the schema does not declare; return their paths (for strict validation)."""
    dropped: list[str] = []
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return dropped
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        for name in list(value):
            child_path = f"{path}.{name}" if path else name
            if root and name in _ROOT_KEEP:
                continue
            if name in props:
                dropped += prune(props[name], value[name], child_path, False)
            elif isinstance(extra, dict):
                dropped += prune(extra, value[name], child_path, False)
            elif extra is True or preserve:
                continue
            else:
                del value[name]
                dropped.append(child_path)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            dropped += prune(schema["items"], item, f"{path}[{i}]", False)
    return dropped


def _to_jsonschema(schema: Any) -> Any:
    """OpenAPI v3 (Kubernetes flavour) -> JSON Schema draft 7."""
    if isinstance(schema, list):
        return [_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: JSON = {}
    for key, val in schema.items():
        if key in ("nullable", "default", "description", "example", "format", "externalDocs"):
            continue
        if key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_jsonschema(v) for k, v in val.items()}
        else:
            out[key] = _to_jsonschema(val)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.lru_cache(maxsize=256)
def go_regexp(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern so that Python reads it as Go's regexp does.

    The one difference that matters for our `^...$` patterns: without flags, Go's `$` is the
    end of the text, while Python's also matches before a final newline ("name\n" would pass).
    Every unescaped `$` outside a character class becomes `\\Z`.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            # `[]...]` and `[^]...]`: a `]` first in the class is a literal.
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":
                out.append("]")
                i += 1
            continue
        elif ch == "$":
            out.append(r"\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    return re.compile("".join(out))


def _go_pattern(
    validator: jsonschema.protocols.Validator, pattern: str, instance: Any, schema: JSON
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not go_regexp(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _bound_only(
    validator: jsonschema.protocols.Validator, value: Any, instance: Any, schema: JSON
) -> Iterator[jsonschema.ValidationError]:
    """`exclusiveMinimum: true` is a modifier of `minimum` in OpenAPI v3, checked there."""
    return iter(())


_DRAFT4 = jsonschema.Draft4Validator.VALIDATORS
# Draft 7 as the API server evaluates it: `pattern` with Go's regexp semantics, and OpenAPI
# v3's numeric bounds (`exclusiveMinimum` a boolean beside `minimum`, as in draft 4). (extend()
# is jsonschema's documented way to replace a keyword; its stub leaves it unannotated.)
ApiServerValidator: type[jsonschema.protocols.Validator] = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft7Validator,
    {
        "pattern": _go_pattern,
        "minimum": _DRAFT4["minimum"],
        "maximum": _DRAFT4["maximum"],
        "exclusiveMinimum": _bound_only,
        "exclusiveMaximum": _bound_only,
    },
)


class SchemaValidator:
    """A compiled CRD version schema: prune, default, validate."""

    def __init__(self, schema: JSON) -> None:
        self.schema = schema
        root = copy.deepcopy(schema)
        # Of metadata, a CRD schema may only constrain name and generateName; the rest is
        # validated by the apiserver's own rules.
        props = root.get("properties") or {}
        if isinstance(props.get("metadata"), dict):
            meta_props = props["metadata"].get("properties") or {}
            props["metadata"] = {
                "type": "object",
                "properties": {
                    k: v for k, v in meta_props.items() if k in ("name", "generateName")
                },
            }
        self._validator = ApiServerValidator(_to_jsonschema(root))

    def admit(self, obj: JSON) -> tuple[list[str], list[Cause]]:
        """Prune and default `obj` in place; return (pruned paths, validation causes)."""
        pruned = prune(self.schema, obj)
        apply_defaults(self.schema, obj)
        causes = [_cause(err) for err in self._validator.iter_errors(obj)]
        causes.sort(key=lambda c: c[0])
        return pruned, causes


def _render(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, default=str)


def _cause(err: jsonschema.ValidationError) -> Cause:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path]
    path = "".join(parts).lstrip(".")
    v = err.validator
    inst = err.instance
    if v == "required":
        missing = str(err.message).split("'")[1]
        field = f"{path}.{missing}" if path else missing
        return (field, "FieldValueRequired", "Required value")
    if v == "enum":
        options: list[Any] = list(err.validator_value)  # type: ignore[arg-type]
        allowed = ", ".join(_render(x) for x in options)
        return (
            path,
            "FieldValueNotSupported",
            f"Unsupported value: {_render(inst)}: supported values: {allowed}",
        )
    if v == "type":
        return (
            path,
            "FieldValueTypeInvalid",
            f'Invalid value: "{_type_name(inst)}": {path} in body must be of type '
            f"{err.validator_value}: {_render(_type_name(inst))}",
        )
    exclusive = (
        err.validator in ("minimum", "maximum")
        and isinstance(err.schema, dict)
        and err.schema.get("exclusiveMinimum" if err.validator == "minimum" else "exclusiveMaximum")
    )
    if exclusive:
        side = "greater" if err.validator == "minimum" else "less"
        return (
            path,
            "FieldValueInvalid",
            f"Invalid value: {_render(inst)}: {path} in body should be {side} than "
            f"{err.validator_value}",
        )
    limits = {
        "pattern": f"should match '{err.validator_value}'",
        "minimum": f"should be greater than or equal to {err.validator_value}",
        "maximum": f"should be less than or equal to {err.validator_value}",
        "minLength": f"should be at least {err.validator_value} chars long",
        "maxLength": f"may not be longer than {err.validator_value}",
        "minItems": f"should have at least {err.validator_value} items",
        "maxItems": f"must have at most {err.validator_value} items",
    }
    if v in limits:
        reason = "FieldValueTooLong" if v in ("maxLength", "maxItems") else "FieldValueInvalid"
        return (path, reason, f"Invalid value: {_render(inst)}: {path} in body {limits[v]}")
    return (path, "FieldValueInvalid", f"Invalid value: {_render(inst)}: {err.message}")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"
