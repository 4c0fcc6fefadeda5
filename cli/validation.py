"""Turning pydantic's validation errors into one line that names the flag and the fix."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gastown.cli.session import Usage

M = TypeVar("M", bound=BaseModel)

# What a valid value looks like, by the field's last path element.
HINTS = {
    "beadID": "a bead ID is a lowercase prefix, a dash and lowercase letters/digits (dm-0001)",
    "trackedBeads": "bead IDs are a lowercase prefix, a dash and lowercase letters/digits",
    "gitURL": "use git@host:org/repo.git, ssh://host/repo, https://host/repo (credentials go "
    "in a Secret, not the URL) or file:///path",
    "gitRepository": "use git@host:org/repo.git, ssh://host/repo, https://host/repo or "
    "file:///path",
    "beadsPrefix": "a prefix is 1-10 lowercase letters or digits, starting with a letter",
    "name": "names are lowercase letters, digits and '-', starting and ending alphanumeric",
    "rig": "rig names are lowercase letters, digits, '-' and '.'",
    "rigRef": "rig names are lowercase letters, digits, '-' and '.'",
    "gitBranch": "branch names use letters, digits, '_', '+', '-', single '.' and '/'",
    "workBranch": "branch names use letters, digits, '_', '+', '-', single '.' and '/'",
    "baseBranch": "branch names use letters, digits, '_', '+', '-', single '.' and '/'",
    "image": "an image is [registry/]repository[:tag][@sha256:digest], lowercase repository",
    "model": "a model name is letters, digits and . _ : / @ -",
}


def _short(value: Any) -> str:
    from gastown.cli.output import mask_url_passwords

    text = mask_url_passwords(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


def validated(model: type[M], doc: dict[str, Any], flags: dict[str, str]) -> M:
    """Validate, or raise Usage naming the flag (or field) at fault."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        path = ".".join(str(p) for p in loc if not isinstance(p, int))
        where = next(
            (flag for key, flag in flags.items() if path == key or path.startswith(key + ".")),
            None,
        )
        last = path.rsplit(".", 1)[-1]
        hint = HINTS.get(last, "")
        message = first["msg"]
        if first["type"] == "string_pattern_mismatch":
            message = f"{_short(first['input'])} is not valid"
        elif first["type"] == "value_error":
            # The validator's own words carry the fix; a hint by field name would not fit.
            message = str(first["msg"]).removeprefix("Value error, ")
            hint = ""
        shown = _field_path(loc)
        if where is None:
            where = shown
        elif shown != path and "[" in shown:
            where = f"{where} ({shown})"
        raise Usage(f"{where}: {message}" + (f"; {hint}" if hint else "")) from None


def _field_path(loc: tuple[int | str, ...]) -> str:
    """`spec.agentConfig.env[2].name`, as the API server names a list item."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
