"""Printing the way kubectl does: plain aligned columns, or one valid JSON/YAML document.

`-o json` of a list is a single JSON array (`jq '.[]'` works), `-o name` prints
`kind/name` lines, `-o wide` adds columns. Tables are plain text so they pipe into awk and
grep like kubectl's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import typer
import yaml

# A URL's userinfo runs to the LAST `@` before the host (a password may itself hold `@`, `:`
# or quotes): `scheme://user:password@` keeps the user and masks the rest; an http(s) URL's
# bare user is a token (git and forges accept one there) and is masked whole; ssh's
# `git@host` user names are not secrets and stay.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^\s/?#]*)@")


def _masked(match: re.Match[str]) -> str:
    scheme, info = match["scheme"], match["info"]
    if ":" in info:
        return f"{scheme}{info.split(':', 1)[0]}:***@"
    if scheme.lower() in ("http://", "https://"):
        return f"{scheme}***@"
    return match[0]


def mask_url_passwords(text: str) -> str:
    """Every URL in `text` with its password (or an http(s) URL's bare token user) as `***`:
    what the CLI prints about a URL must not hand back the credential inside it."""
    return _USERINFO.sub(_masked, text)


class Format(StrEnum):
    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"
    NAME = "name"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], object]
    wide: bool = False


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    if not timestamp:
        return "<unknown>"
    from gastown.kube.timestamps import parse

    then = parse(timestamp)
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def field(obj: dict[str, Any], *path: str, default: Any = "") -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return default if node is None else node


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], wide: bool) -> str:
    cols = [c for c in columns if wide or not c.wide]
    cells = [[c.header for c in cols]]
    cells += [[str(c.value(row)) for c in cols] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cols))]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    return "\n".join(lines)


def emit(
    objs: Sequence[dict[str, Any]],
    fmt: Format,
    columns: Sequence[Column],
    kind: str,
    single: bool = False,
    empty: str = "No resources found.",
) -> None:
    """Print objects in the chosen format; `single` prints one object, not a list."""
    if fmt == Format.JSON:
        typer.echo(json.dumps(objs[0] if single and objs else list(objs), indent=2))
    elif fmt == Format.YAML:
        typer.echo(yaml.safe_dump(objs[0] if single and objs else list(objs), sort_keys=False))
    elif fmt == Format.NAME:
        for obj in objs:
            typer.echo(f"{kind}/{obj['metadata']['name']}")
    elif not objs:
        typer.echo(empty, err=True)
    else:
        typer.echo(table(objs, columns, wide=fmt == Format.WIDE))
