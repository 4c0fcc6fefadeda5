"""Convoy: a batch of beads dispatched as one workflow that fans out polecats.

The spec keeps the Go original's fields (description, trackedBeads, parallelism, rigRef,
notifyOnComplete) so its YAML applies unchanged, and adds what durable dispatch needs: a
failure policy with retries, a cost cap, the agent the polecats run. Status is the workflow's
alone; it is written at most a few times a second however large the convoy.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from gastown.api.common import Condition, ObjectMeta
from gastown.api.patterns import DNS1123_LABEL_MAX
from gastown.api.polecat import AgentType, Outcome, PolecatPhase
from gastown.api.types import BeadID, Model, ObjectName, StatusModel, Time, check_object_name

CONVOY_BEADS_MAX = 1000


class FailurePolicy(StrEnum):
    CONTINUE = "Continue"  # run every bead; a failed bead makes the convoy PartiallyFailed
    STOP = "Stop"  # start nothing new after the first failure; running polecats finish
    RETRY = "Retry"  # a failed bead gets a new polecat, up to spec.maxRetries times


class ConvoySpec(Model):
    description: str = Field(min_length=1, max_length=1024)
    tracked_beads: list[BeadID] = Field(
        min_length=1,
        max_length=CONVOY_BEADS_MAX,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    # Polecats at work at once; 0: as many as the rig's maxPolecats allows. The rig's limit
    # bounds slings and convoys together whatever this says.
    parallelism: int = Field(default=0, ge=0, le=1000)
    rig_ref: ObjectName | None = None
    failure_policy: FailurePolicy = FailurePolicy.CONTINUE
    max_retries: int = Field(default=2, ge=0, le=10)  # with failurePolicy Retry
    # Once the polecats' summed agent cost passes this, nothing new is dispatched.
    max_cost_usd: float | None = Field(default=None, alias="maxCostUSD", gt=0, le=1_000_000)
    agent: AgentType = AgentType.CLAUDE_CODE
    # At the end: an Event on the Convoy always; when an https URL, one POST of a JSON summary.
    notify_on_complete: str | None = Field(default=None, max_length=2048)


class ConvoyPhase(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETE = "Complete"  # every bead Done
    PARTIALLY_FAILED = "PartiallyFailed"  # some Done, the rest failed or never dispatched
    FAILED = "Failed"  # none Done
    CANCELLED = "Cancelled"  # `convoy cancel`, or the Convoy was deleted

    @property
    def is_final(self) -> bool:
        return self not in (ConvoyPhase.PENDING, ConvoyPhase.IN_PROGRESS)


class BeadPhase(StrEnum):
    """A bead's place in its convoy: the polecat's phase while one works it."""

    PENDING = "Pending"  # not dispatched yet
    DISPATCHED = "Dispatched"  # a polecat exists; see polecatPhase
    DONE = "Done"
    FAILED = "Failed"
    SKIPPED = "Skipped"  # never dispatched: cancelled, stopped on failure or over the cost cap

    @property
    def is_final(self) -> bool:
        return self in (BeadPhase.DONE, BeadPhase.FAILED, BeadPhase.SKIPPED)


class BeadState(StatusModel):
    bead_id: BeadID = Field(alias="beadID")
    phase: BeadPhase = BeadPhase.PENDING
    polecat: str | None = None
    polecat_phase: PolecatPhase | None = None
    attempts: int = 0  # polecats dispatched for this bead (retries included)
    outcome: Outcome | None = None
    reason: str | None = None
    branch: str | None = None
    pull_request_url: str | None = Field(default=None, alias="pullRequestURL")
    cost_usd: float | None = Field(default=None, alias="costUSD")


class BeadCounts(StatusModel):
    total: int = 0
    done: int = 0
    running: int = 0  # dispatched: a polecat exists and has not finished
    queued: int = 0  # of the running, waiting for a slot under the rig's maxPolecats
    pending: int = 0  # not dispatched yet
    failed: int = 0
    skipped: int = 0
    # Of the running, parked until their credentials are fresh; the convoy dispatches no new
    # bead meanwhile (they would park too), and none of them counts as failed.
    waiting: int = 0


class ConvoyStatus(StatusModel):
    phase: ConvoyPhase | None = None
    progress: str | None = None  # "finished/total"
    counts: BeadCounts | None = None
    beads: list[BeadState] | None = None
    cost_usd: float | None = Field(default=None, alias="costUSD")
    reason: str | None = None
    message: str | None = Field(default=None, max_length=4096)
    # The Go original's lists, kept for its readers.
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
