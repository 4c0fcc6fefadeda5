"""Shapes borrowed from core/v1 and meta/v1, kept to the fields our kinds use."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator

from gastown.api import envnames
from gastown.api.patterns import CONDITION_TYPE
from gastown.api.types import (
    ConditionReason,
    ConfigKey,
    EnvName,
    LabelName,
    Model,
    ObjectName,
    Quantity,
    StatusModel,
    Time,
)


class LocalObjectReference(Model):
    """A Secret or ConfigMap in the object's own namespace."""

    name: ObjectName


class SecretReference(Model):
    """A Secret in the object's own namespace whose keys the consumer knows (git, OAuth)."""

    name: ObjectName


class SecretKeyRef(Model):
    """One key of a Secret (API key, forge token)."""

    name: ObjectName
    key: ConfigKey


class ConfigMapKeyRef(Model):
    name: ObjectName
    key: ConfigKey


class EnvVarSource(Model):
    secret_key_ref: SecretKeyRef | None = None
    config_map_key_ref: ConfigMapKeyRef | None = None


class EnvVar(Model):
    """An extra environment variable for the agent: a literal, or a Secret/ConfigMap key.

    Secrets stay references; the value is resolved by the kubelet inside the pod, never by us.
    Names the runtime owns (gastown/api/envnames.py) are refused here and by the CRD's rule.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": envnames.CEL_RULE,
                    "message": envnames.CEL_MESSAGE,
                    "messageExpression": envnames.CEL_MESSAGE_EXPRESSION,
                    "fieldPath": ".name",
                }
            ]
        }
    )

    name: EnvName
    value: str | None = Field(default=None, max_length=32768)
    value_from: EnvVarSource | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if envnames.is_reserved(name):
            raise ValueError(envnames.reserved_message(name))
        return name


class ResourceRequirements(Model):
    """core/v1 ResourceRequirements without `claims` (not used by polecat pods)."""

    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """metav1.Condition, so kubectl describe, kstatus and GitOps tools understand it."""

    type: str = Field(max_length=316, pattern=CONDITION_TYPE)
    status: ConditionStatus
    observed_generation: int | None = Field(default=None, ge=0)
    last_transition_time: Time
    reason: ConditionReason
    message: str = Field(max_length=32768)


class OwnerReference(StatusModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(StatusModel):
    """The metadata we read and write; everything else the server keeps is ignored."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    generate_name: str | None = None
    namespace: LabelName | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[OwnerReference] | None = None
