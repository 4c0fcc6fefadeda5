"""Label and field selectors with the apiserver's syntax and matching rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gastown.sandbox.errors import ApiError, bad_request

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(\S+?)\s+(in|notin)\s+\((.*)\)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses (`a in (x,y),b` is two terms)."""
    terms: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t.strip() for t in terms if t.strip()]


def _label_check(key: str, op: str, values: frozenset[str]) -> Predicate:
    def check(labels: Mapping[str, Any]) -> bool:
        if op == "in":
            return labels.get(key) in values
        if op == "notin":
            return labels.get(key) not in values
        if op == "=":
            return labels.get(key) in values
        if op == "!=":
            return labels.get(key) not in values
        if op == "exists":
            return key in labels
        return key not in labels  # "!"

    return check


def parse_label_selector(text: str | None) -> Predicate:
    """Compile `a=b,c!=d,e in (x,y),f notin (z),g,!h` into a predicate over a labels map."""
    if not text:
        return lambda _labels: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        m = _SET_RE.fullmatch(term)
        if m:
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            checks.append(_label_check(m.group(1), m.group(2), values))
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            checks.append(_label_check(key, "!=", frozenset([value])))
        elif "=" in term:
            key, value = (s.strip() for s in re.split("==?", term, maxsplit=1))
            checks.append(_label_check(key, "=", frozenset([value])))
        elif term.startswith("!"):
            checks.append(_label_check(term[1:].strip(), "!", frozenset()))
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", term):
            checks.append(_label_check(term, "exists", frozenset()))
        else:
            raise bad_request(f"unable to parse requirement: invalid label selector: {term!r}")
    return lambda labels: all(c(labels) for c in checks)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """A dotted field path's value as the apiserver's field sets render it ("" when absent)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _field_check(path: str, value: str, *, equal: bool) -> Predicate:
    def check(obj: Mapping[str, Any]) -> bool:
        return (field_value(obj, path) == value) is equal

    return check


def parse_field_selector(text: str | None) -> Predicate:
    """Compile `metadata.name=x,status.phase!=Running` into a predicate over whole objects.

    The real apiserver supports a fixed set of fields per resource; we accept any dotted path,
    which is a superset and keeps events' `involvedObject.*` (used by kubectl describe) working.
    """
    if not text:
        return lambda _obj: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            checks.append(_field_check(key, value, equal=False))
        elif "=" in term:
            key, value = (s.strip() for s in re.split("==?", term, maxsplit=1))
            checks.append(_field_check(key, value, equal=True))
        else:
            raise ApiError(
                400, "BadRequest", f'invalid selector: "{text}"; can\'t understand "{term}"'
            )
    return lambda obj: all(c(obj) for c in checks)
