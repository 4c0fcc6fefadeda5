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


def parse_label_selector(text: str | None) -> Predicate:
    """Compile `a=b,c!=d,e in (x,y),f notin (z),g,!h` into a predicate over a labels map."""
    if not text:
        return lambda _labels: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        m = _SET_RE.match(term)
        if m:
            key, op, raw = m.group(1), m.group(2), m.group(3)
            values = frozenset(v.strip() for v in raw.split(",") if v.strip())
            if op == "in":
                checks.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                checks.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            checks.append(lambda lb, k=key, v=value: lb.get(k) != v)
        elif "==" in term or "=" in term:
            key, value = (s.strip() for s in re.split("==?", term, maxsplit=1))
            checks.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif term.startswith("!"):
            checks.append(lambda lb, k=term[1:].strip(): k not in lb)
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", term):
            checks.append(lambda lb, k=term: k in lb)
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
            key, value = term.split("!=", 1)
            checks.append(lambda o, k=key.strip(), v=value.strip(): field_value(o, k) != v)
        elif "=" in term:
            key, value = re.split("==?", term, maxsplit=1)
            checks.append(lambda o, k=key.strip(), v=value.strip(): field_value(o, k) == v)
        else:
            raise ApiError(
                400, "BadRequest", f'invalid selector: "{text}"; can\'t understand "{term}"'
            )
    return lambda obj: all(c(obj) for c in checks)
