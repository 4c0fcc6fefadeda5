"""Rig: a project's git repository and the defaults every polecat of it inherits.

Cluster-scoped as in the Go original: a rig is shared by the namespaces that dispatch to it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal, cast

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from gastown.api.common import (
    Condition,
    LocalObjectReference,
    ObjectMeta,
    ResourceRequirements,
    SecretKeyRef,
    SecretReference,
)
from gastown.api.patterns import DNS1123_LABEL_MAX
from gastown.api.polecat import BASE_URL_ENV, AgentConfig, api_key_rule, check_one_api_key
from gastown.api.types import (
    BeadsPrefix,
    GitBranch,
    GitURL,
    Image,
    ImagePin,
    Model,
    ObjectName,
    RepositoryPin,
    StatusModel,
    check_object_name,
)


class NamepoolTheme(StrEnum):
    MAD_MAX = "mad-max"
    MINERALS = "minerals"
    WASTELAND = "wasteland"


class PolecatDefaults(Model):
    """What a polecat of this rig gets when its own spec leaves the field unset."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cast(
                    "JsonDict",
                    api_key_rule(("apiKeySecretRef",), "polecatDefaults.apiKeySecretRef"),
                )
            ]
        }
    )

    base_branch: GitBranch | None = None
    git_secret_ref: SecretReference | None = None
    claude_creds_secret_ref: SecretReference | None = None
    api_key_secret_ref: SecretKeyRef | None = None
    forge_token_secret_ref: SecretKeyRef | None = None
    ssh_known_hosts_config_map_ref: LocalObjectReference | None = None
    image: Image | None = None
    resources: ResourceRequirements | None = None
    active_deadline_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    agent_config: AgentConfig | None = None

    @model_validator(mode="after")
    def _one_api_key(self) -> PolecatDefaults:
        check_one_api_key(
            self.api_key_secret_ref, self.agent_config, "polecatDefaults.apiKeySecretRef"
        )
        return self

    def model_credentials(self) -> list[str]:
        """The fields naming a model credential every polecat inherits (its own, if it names
        one, replaces it)."""
        fields = {
            "settings.polecatDefaults.claudeCredsSecretRef": self.claude_creds_secret_ref,
            "settings.polecatDefaults.apiKeySecretRef": self.api_key_secret_ref,
            "settings.polecatDefaults.agentConfig.modelProvider.apiKeySecretRef": (
                self.agent_config.api_key_ref if self.agent_config else None
            ),
        }
        return [field for field, ref in fields.items() if ref is not None]

    def env_secrets(self, overridden: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """The agent env items this rig fills from a Secret (a gateway's header, a token),
        those the polecat does not replace by name: they go wherever the agent's model client
        sends its requests, as its credential does."""
        return [
            f"settings.polecatDefaults.agentConfig.env {e.name} (Secret "
            f"{e.value_from.secret_key_ref.name})"
            for e in (self.agent_config.env if self.agent_config else None) or []
            if e.value_from and e.value_from.secret_key_ref and e.name not in overridden
        ]

    def secret_names(self) -> set[str]:
        """Every Secret these defaults name: a polecat naming one of them as its own model
        credential is handing on the rig's."""
        refs = [
            self.git_secret_ref,
            self.claude_creds_secret_ref,
            self.api_key_secret_ref,
            self.forge_token_secret_ref,
            self.agent_config.api_key_ref if self.agent_config else None,
        ]
        names = {ref.name for ref in refs if ref is not None}
        for e in (self.agent_config.env if self.agent_config else None) or []:
            if e.value_from and e.value_from.secret_key_ref:
                names.add(e.value_from.secret_key_ref.name)
        return names

    def endpoint_from_a_reference(self) -> str | None:
        """The env item that sets the rig's model endpoint from a ConfigMap or Secret, if any.
        The Rig is cluster-wide and each polecat's pod reads that object in its own namespace,
        so whoever may write it there would choose where the rig's credential goes."""
        for e in (self.agent_config.env if self.agent_config else None) or []:
            if e.name == BASE_URL_ENV and e.value_from is not None:
                return f"settings.polecatDefaults.agentConfig.env {e.name}"
        return None


class RigSettings(Model):
    namepool_theme: NamepoolTheme = NamepoolTheme.MAD_MAX
    max_polecats: int = Field(default=8, ge=1, le=100)
    polecat_defaults: PolecatDefaults | None = None


def _pinned(value: str, pins: list[str], separators: str) -> bool:
    """`value` is a pin, or starts with a pin that ends in one of `separators`."""
    return any(value == pin or (pin[-1] in separators and value.startswith(pin)) for pin in pins)


class PolecatPolicy(Model):
    """What the rig's polecats may use; unset: anything the schema takes.

    Enforced where the polecat is resolved, before any pod (and by `kubectl gt sling` for what
    its flags set), so a Polecat cannot point the rig's git and forge credentials at another
    repository, run an image the rig's owner did not choose, or hand its agent a Secret of the
    namespace the owner did not list.
    """

    # Exact repository URLs, or prefixes ending in `/`. The rig's own gitURL is always allowed.
    allowed_repositories: list[RepositoryPin] | None = Field(default=None, max_length=256)
    # Exact images, or prefixes ending in `/` (a registry or namespace) or `:` (any tag).
    allowed_images: list[ImagePin] | None = Field(default=None, max_length=256)
    # Secrets a Polecat may name in its own spec (exact names). What the rig's own
    # settings.polecatDefaults name is the owner's choice and never checked against it.
    allowed_secrets: list[ObjectName] | None = Field(default=None, max_length=256)

    def repository_allowed(self, url: str, rig_url: str) -> bool:
        if self.allowed_repositories is None or url == rig_url:
            return True
        # A prefix must not be left by a `..` or `.` component (git would resolve it).
        parts = url.replace(":", "/").split("/")
        if any(part in (".", "..") for part in parts):
            return url in self.allowed_repositories
        return _pinned(url, self.allowed_repositories, "/")

    def secret_allowed(self, name: str) -> bool:
        return self.allowed_secrets is None or name in self.allowed_secrets

    def image_allowed(self, image: str) -> bool:
        """An exact image, under a `/` prefix, or any tag of a `:` pin: what follows a `:` pin
        must be a tag (or digest), never a path, or `ghcr.io:` would admit
        `ghcr.io:443/evil/x` and `agent:` would admit `agent:5000/evil/x`."""
        if self.allowed_images is None:
            return True
        return _pinned(image, self.allowed_images, "/") or any(
            pin.endswith(":") and image.startswith(pin) and "/" not in image[len(pin) :]
            for pin in self.allowed_images
        )


class RigSpec(Model):
    git_url: GitURL = Field(alias="gitURL")
    beads_prefix: BeadsPrefix
    settings: RigSettings = Field(default_factory=RigSettings)
    polecat_policy: PolecatPolicy | None = None


class RigPhase(StrEnum):
    INITIALIZING = "Initializing"
    READY = "Ready"
    DEGRADED = "Degraded"


class PolecatCounts(StatusModel):
    pending: int = 0
    working: int = 0
    done: int = 0
    failed: int = 0
    stuck: int = 0
    terminated: int = 0


class RigStatus(StatusModel):
    phase: RigPhase | None = None
    polecat_count: int | None = Field(default=None, ge=0)
    polecats: PolecatCounts | None = None
    active_convoys: int | None = Field(default=None, ge=0)
    observed_generation: int | None = None
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class Rig(Model):
    KIND: ClassVar[str] = "Rig"
    PLURAL: ClassVar[str] = "rigs"

    api_version: Literal["gastown.gastown.io/v1alpha1"] = "gastown.gastown.io/v1alpha1"
    kind: Literal["Rig"] = "Rig"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RigSpec
    status: RigStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _check_name(cls, meta: ObjectMeta) -> ObjectMeta:
        check_object_name(meta.name, DNS1123_LABEL_MAX)
        return meta
