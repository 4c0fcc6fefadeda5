"""Constrained field types: one declaration gives both the Python check and the CRD schema.

Each alias carries its pattern/length as pydantic constraints (which pydantic also emits into
JSON Schema), so the CRD generator never has to know which field is a bead ID or a branch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from gastown.api import patterns as p

ObjectName = Annotated[
    str, StringConstraints(pattern=p.DNS1123_SUBDOMAIN, max_length=p.DNS1123_SUBDOMAIN_MAX)
]
LabelName = Annotated[
    str, StringConstraints(pattern=p.DNS1123_LABEL, max_length=p.DNS1123_LABEL_MAX)
]
ConfigKey = Annotated[str, StringConstraints(pattern=p.CONFIG_KEY, max_length=p.CONFIG_KEY_MAX)]
BeadID = Annotated[str, StringConstraints(pattern=p.BEAD_ID, max_length=p.BEAD_ID_MAX)]
BeadsPrefix = Annotated[str, StringConstraints(pattern=p.BEADS_PREFIX)]
GitURL = Annotated[str, StringConstraints(pattern=p.GIT_URL, max_length=p.GIT_URL_MAX)]
Image = Annotated[str, StringConstraints(pattern=p.IMAGE, max_length=p.IMAGE_MAX)]
RepositoryPin = Annotated[
    str, StringConstraints(pattern=p.REPOSITORY_PIN, max_length=p.GIT_URL_MAX)
]
ImagePin = Annotated[str, StringConstraints(pattern=p.IMAGE_PIN, max_length=p.IMAGE_MAX)]
EnvName = Annotated[str, StringConstraints(pattern=p.ENV_NAME, max_length=256)]
ConditionReason = Annotated[
    str, StringConstraints(pattern=p.CONDITION_REASON, min_length=1, max_length=1024)
]


def _check_branch(value: str) -> str:
    if not p.is_git_branch(value):
        raise ValueError(
            "not a valid git branch name: use letters, digits, '_', '+', '-', single '.' and "
            "'/' separators; no leading '-', no '..', no component ending in '.lock'"
        )
    return value


GitBranch = Annotated[
    str,
    StringConstraints(pattern=p.GIT_BRANCH, max_length=p.GIT_BRANCH_MAX),
    AfterValidator(_check_branch),
    Field(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.split('/').exists(c, c.endsWith('.lock'))",
                    "message": "a branch name component must not end in .lock",
                }
            ]
        }
    ),
]


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, str) and not p.matches(p.QUANTITY, value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (for example 500m, 1Gi, 2)")
    return value


Quantity = Annotated[
    int | str,
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": p.QUANTITY,
            "x-kubernetes-int-or-string": True,
        }
    ),
]


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the form the API server writes and kubectl prints ages from."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Time = Annotated[datetime, PlainSerializer(format_time, return_type=str)]


class Model(BaseModel):
    """Base for everything that travels as Kubernetes JSON: camelCase on the wire.

    Unknown fields are refused so a typo in a CLI-built spec fails here, as the API server's
    strict field validation would fail it for `kubectl apply`.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=False,
    )

    def to_k8s(self) -> dict[str, Any]:
        """The object as the API server stores it: aliases, no unset optionals."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def check_object_name(meta_name: str | None, max_length: int) -> str | None:
    """metadata.name of our kinds: a DNS-1123 label, short enough to derive pod names from."""
    if meta_name is not None and (
        len(meta_name) > max_length or not p.matches(p.DNS1123_LABEL, meta_name)
    ):
        raise ValueError(
            f"metadata.name {meta_name!r} must be lowercase letters, digits and '-', start and "
            f"end with a letter or digit, and be at most {max_length} characters"
        )
    return meta_name


class StatusModel(Model):
    """Status is read back from the cluster, possibly written by a newer version: tolerate."""

    model_config = ConfigDict(extra="ignore")


def validation_summary(exc: ValidationError) -> str:
    """`field.path[i].name: message; …` without the input values pydantic's own text quotes
    (a whole spec, with its task text and literal env values, for a model-level rule), for
    messages that end in a status, an Event or workflow history."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)
