"""CRD validation rules (`x-kubernetes-validations`) evaluated as the apiextensions apiserver does.

The runtime is cel-expr-python: the Python binding of cel-cpp, Google's reference C++
implementation of CEL, with its strings extension (`split`, `join`, `lowerAscii`, `replace`,
`indexOf`...) compiled in, so the Kubernetes library functions our CRDs use run natively
(docs/sandbox.md says why this one over the other two PyPI runtimes).

Rules are attached to schema nodes; each is evaluated with `self` bound to the value at that
node and, on update, `oldSelf` to the old value at the same place when there is one
(properties by name, map values by key, list items of `x-kubernetes-list-type: map` by their
keys and of `set` by value; other list items have no old value). A rule that mentions
`oldSelf` is a transition rule: evaluated only when the old value exists. Failures are
`field.Invalid(path, <schema type>, message)` unless the rule's `reason` says otherwise, with
`messageExpression` and `fieldPath` honoured.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

JSON = dict[str, Any]
Cause = tuple[str, str, str]

_OLD_SELF = re.compile(r"\boldSelf\b")
_ENV = cel.NewEnv(
    variables={"self": cel.Type.DYN, "oldSelf": cel.Type.DYN},
    extensions=[ext_strings.ExtStrings()],
)
_MISSING = object()


class CompileError(ValueError):
    """A rule that does not compile (the apiserver refuses such CRDs)."""


@functools.lru_cache(maxsize=1024)
def compile_rule(expression: str) -> Any:
    try:
        return _ENV.compile(expression)
    except RuntimeError as exc:
        raise CompileError(str(exc)) from exc


@dataclass(frozen=True)
class Outcome:
    value: Any
    error: str | None


def evaluate(expression: str, self_value: Any, old_value: Any = _MISSING) -> Outcome:
    program = compile_rule(expression)
    data: JSON = {"self": self_value}
    if old_value is not _MISSING:
        data["oldSelf"] = old_value
    result = program.eval(data=data)
    if result.type() == cel.Type.ERROR:
        return Outcome(None, str(result.plain_value()))
    return Outcome(result.plain_value(), None)


def _type_name(schema: JSON) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "string"
    return str(schema.get("type") or "object")


def _list_key(item: Any, keys: list[str]) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        return None
    return tuple(item.get(k) for k in keys)


def _children(
    schema: JSON, value: Any, old: Any, path: str
) -> Iterator[tuple[JSON, Any, Any, str]]:
    """(child schema, value, old value or _MISSING, path) for the nodes under this one."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for name, child in value.items():
            sub = props.get(name)
            if sub is None and isinstance(extra, dict):
                sub = extra
                child_path = f"{path}[{name}]"
            else:
                child_path = f"{path}.{name}" if path else name
            if isinstance(sub, dict):
                yield sub, child, old_map.get(name, _MISSING), child_path
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        list_type = schema.get("x-kubernetes-list-type")
        keys = list(schema.get("x-kubernetes-list-map-keys") or ())
        old_by_key: dict[Any, Any] = {}
        if isinstance(old, list) and list_type == "map" and keys:
            for o in old:
                k = _list_key(o, keys)
                if k is not None:
                    old_by_key[k] = o
        for i, item in enumerate(value):
            previous: Any = _MISSING
            if list_type == "map" and keys:
                previous = old_by_key.get(_list_key(item, keys), _MISSING)
            elif list_type == "set" and isinstance(old, list) and item in old:
                previous = item
            yield items, item, previous, f"{path}[{i}]"


def _message(rule: JSON, self_value: Any, old_value: Any) -> str:
    expression = rule.get("messageExpression")
    if expression:
        try:
            out = evaluate(expression, self_value, old_value)
        except CompileError:
            out = Outcome(None, "compile error")
        if out.error is None and isinstance(out.value, str) and out.value.strip():
            return out.value
    if rule.get("message"):
        return str(rule["message"]).strip()
    return f"failed rule: {str(rule.get('rule', '')).strip()}"


def _field_path(base: str, relative: str | None) -> str:
    if not relative:
        return base
    rel = relative[1:] if relative.startswith(".") else relative
    return f"{base}.{rel}" if base else rel


def _cause(path: str, type_name: str, reason: str | None, detail: str) -> Cause:
    if reason == "FieldValueForbidden":
        return path, "FieldValueForbidden", f"Forbidden: {detail}"
    if reason == "FieldValueRequired":
        return path, "FieldValueRequired", f"Required value: {detail}"
    if reason == "FieldValueDuplicate":
        return path, "FieldValueDuplicate", f'Duplicate value: "{type_name}"'
    return path, "FieldValueInvalid", f'Invalid value: "{type_name}": {detail}'


def _rules_at(schema: JSON, value: Any, old: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for rule in schema.get("x-kubernetes-validations") or ():
        expression = str(rule.get("rule", ""))
        transition = bool(_OLD_SELF.search(expression))
        if transition and old is _MISSING:
            continue
        try:
            out = evaluate(expression, value, old if transition else _MISSING)
        except CompileError as exc:
            causes.append(
                (
                    path,
                    "FieldValueInvalid",
                    f'Invalid value: "{_type_name(schema)}": compilation failed: {exc}',
                )
            )
            continue
        if out.error is not None:
            causes.append(
                (
                    path,
                    "FieldValueInvalid",
                    f'Invalid value: "{_type_name(schema)}": {out.error} evaluating rule: '
                    f"{expression.strip()}",
                )
            )
        elif out.value is not True:
            target = _field_path(path, rule.get("fieldPath"))
            causes.append(
                _cause(target, _type_name(schema), rule.get("reason"), _message(rule, value, old))
            )
    return causes


def validate(schema: JSON, obj: JSON, old: JSON | None = None) -> list[Cause]:
    """Every failed rule in the object, depth first (the apiserver's order), as causes."""
    causes: list[Cause] = []

    def walk(node: JSON, value: Any, old_value: Any, path: str) -> None:
        if value is None:
            return
        causes.extend(_rules_at(node, value, old_value, path))
        for sub, child, old_child, child_path in _children(node, value, old_value, path):
            walk(sub, child, old_child, child_path)

    root_old: Any = old if old is not None else _MISSING
    # The root's metadata is not part of the structural schema's rules (only name/generateName).
    walk(schema, {k: v for k, v in obj.items() if k != "metadata"}, _strip(root_old), "")
    return causes


def _strip(old: Any) -> Any:
    if isinstance(old, dict):
        return {k: v for k, v in old.items() if k != "metadata"}
    return old


def has_rules(schema: Any) -> bool:
    """Whether any node of the schema carries x-kubernetes-validations (skip work if not)."""
    if isinstance(schema, dict):
        if schema.get("x-kubernetes-validations"):
            return True
        return any(has_rules(v) for v in schema.values())
    if isinstance(schema, list):
        return any(has_rules(v) for v in schema)
    return False
