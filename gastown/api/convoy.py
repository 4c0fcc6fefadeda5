"""Convoy: a batch of beads dispatched as one workflow that fans out polecats."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from gastown.api.common import Condition, ObjectMeta
from gastown.api.patterns import DNS1123_LABEL_MAX
from gastown.api.polecat import Outcome, PolecatPhase
from gastown.api.types import BeadID, Model, ObjectName, StatusModel, Time, check_object_name


class FailurePolicy(StrEnum):
    CONTINUE = "Continue"  # run every bead; the convoy fails if any bead failed
    STOP = "Stop"  # start nothing new after the first failure


class ConvoySpec(Model):
    description: str = Field(min_length=1, max_length=1024)
    tracked_beads: list[BeadID] = Field(
        min_length=1, max_length=1000, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    parallelism: int = Field(default=0, ge=0, le=1000)  # 0: every bead at once
    rig_ref: ObjectName | None = None
    failure_policy: FailurePolicy = FailurePolicy.CONTINUE


class ConvoyPhase(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETE = "Complete"
    FAILED = "Failed"


class BeadState(StatusModel):
    bead_id: BeadID = Field(alias="beadID")
    polecat: str | None = None
    phase: PolecatPhase | None = None
    outcome: Outcome | None = None


class ConvoyStatus(StatusModel):
    phase: ConvoyPhase | None = None
    progress: str | None = None
    beads: list[BeadState] | None = None
    completed_beads: list[str] | None = None
    pending_beads: list[str] | None = None
    started_at: Time | None = None
    completed_at: Time | None = None
    workflow_id: str | None = Field(default=None, alias="workflowID")
    observed_generation: int | None = None
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class Convoy(Model):
    KIND: ClassVar[str] = "Convoy"
    PLURAL: ClassVar[str] = "convoys"

    api_version: Literal["gastown.gastown.io/v1alpha1"] = "gastown.gastown.io/v1alpha1"
    kind: Literal["Convoy"] = "Convoy"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ConvoySpec
    status: ConvoyStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _check_name(cls, meta: ObjectMeta) -> ObjectMeta:
        check_object_name(meta.name, DNS1123_LABEL_MAX)
        return meta
