"""Polecat: one worker agent on one bead, the Kubernetes-side record of a PolecatWorkflow.

The spec keeps every field of the Go original (so existing YAML applies unchanged) and adds
what durable dispatch needs: retry and cleanup policy, a pending timeout, a forge token.
Status is split by writer: the workflow owns the top-level fields, the watcher owns `pod`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from gastown.api import agentflags
from gastown.api.common import (
    Condition,
    EnvVar,
    LocalObjectReference,
    ObjectMeta,
    ResourceRequirements,
    SecretKeyRef,
    SecretReference,
)
from gastown.api.patterns import POLECAT_NAME_MAX, TASK_DESCRIPTION_MAX
from gastown.api.types import (
    BeadID,
    GitBranch,
    GitURL,
    Image,
    Model,
    ObjectName,
    StatusModel,
    Time,
    check_object_name,
)


class DesiredState(StrEnum):
    IDLE = "Idle"
    WORKING = "Working"
    TERMINATED = "Terminated"


class ExecutionMode(StrEnum):
    KUBERNETES = "kubernetes"


class AgentType(StrEnum):
    CLAUDE_CODE = "claude-code"
    COMMAND = "command"  # a custom agent image/command, prompt handed over in a file


# The model endpoint: http(s), no credentials in the URL (they go in apiKeySecretRef).
MODEL_ENDPOINT = r"^https?://[^\s/@?#]+(/[^\s]*)?$"


class ModelProviderConfig(Model):
    """Where the agent's model is served: Anthropic by default, or an endpoint speaking the
    Anthropic Messages API (a gateway such as LiteLLM in front of another provider).

    `endpoint` becomes the agent's `ANTHROPIC_BASE_URL`; `apiKeySecretRef` is the key sent to
    it (the agent's `ANTHROPIC_API_KEY`, read by the kubelet from the Secret): the same field
    as `kubernetes.apiKeySecretRef`, here beside the endpoint it belongs to.
    """

    endpoint: str | None = Field(default=None, max_length=2048, pattern=MODEL_ENDPOINT)
    api_key_secret_ref: SecretKeyRef | None = None


BASE_URL_ENV = "ANTHROPIC_BASE_URL"


class AgentConfig(Model):
    """How the agent is run. `command`/`args` are argv items, never a shell string.

    `command` is the program: a command agent's whole argv, or for claude-code the Claude Code
    CLI to run (default `claude` on PATH).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.modelProvider) && has(self.modelProvider.endpoint) && "
                    f"has(self.env) && self.env.exists(e, e.name == '{BASE_URL_ENV}'))",
                    "message": f"modelProvider.endpoint and env {BASE_URL_ENV} both set the "
                    "model endpoint; keep one (modelProvider.endpoint)",
                },
                {
                    # One item per name: with two, the pod takes the last, and a check that
                    # reads the first (the endpoint's) would judge another value than runs.
                    "rule": "!has(self.env) || "
                    "self.env.all(e, self.env.exists_one(f, f.name == e.name))",
                    "message": "env names a variable more than once; keep one item per name",
                    "fieldPath": ".env",
                },
                {
                    "rule": agentflags.CEL_RULE,
                    "message": agentflags.CEL_MESSAGE,
                    "fieldPath": ".args",
                },
            ]
        }
    )

    model: str | None = Field(default=None, max_length=256, pattern=r"^[A-Za-z0-9._:/@-]+$")
    max_turns: int | None = Field(default=None, ge=1, le=10000)
    model_provider: ModelProviderConfig | None = None
    image: Image | None = None
    command: list[str] | None = Field(default=None, max_length=64)
    args: list[str] | None = Field(default=None, max_length=256)
    env: list[EnvVar] | None = Field(default=None, max_length=128)

    @field_validator("args")
    @classmethod
    def _no_reserved_flag(cls, args: list[str] | None) -> list[str] | None:
        found = agentflags.first_reserved(args or [])
        if found is not None:
            index, flag = found
            raise ValueError(f"args[{index}]: {agentflags.reserved_message(flag)}")
        return args

    @model_validator(mode="after")
    def _unique_env_names(self) -> AgentConfig:
        names = [e.name for e in self.env or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"agentConfig.env names {', '.join(twice)} more than once; keep one item per name"
            )
        return self

    @model_validator(mode="after")
    def _one_endpoint(self) -> AgentConfig:
        endpoint = self.model_provider.endpoint if self.model_provider else None
        if endpoint and any(e.name == BASE_URL_ENV for e in self.env or []):
            raise ValueError(
                f"agentConfig.modelProvider.endpoint and agentConfig.env {BASE_URL_ENV} both "
                "set the model endpoint; keep one (modelProvider.endpoint)"
            )
        return self

    @property
    def api_key_ref(self) -> SecretKeyRef | None:
        return self.model_provider.api_key_secret_ref if self.model_provider else None

    def endpoint_setting(self) -> tuple[str, object] | None:
        """The field that sets the model endpoint and what it sets (a literal, or an env
        item's valueFrom), to compare a polecat's with its rig's without printing either."""
        if self.model_provider and self.model_provider.endpoint:
            return "agentConfig.modelProvider.endpoint", self.model_provider.endpoint
        for i, e in enumerate(self.env or []):
            if e.name == BASE_URL_ENV:
                source = e.value_from.model_dump(exclude_none=True) if e.value_from else e.value
                return f"agentConfig.env[{i}] ({BASE_URL_ENV})", source
        return None


def own_endpoint(mine: AgentConfig | None, rigs: AgentConfig | None) -> str | None:
    """The field by which the polecat sets a model endpoint other than its rig's, or None.

    The rig's endpoint (or, without one, the provider's default) is where the rig's owner
    sends the rig's model credential; a polecat repeating it chooses nothing."""
    setting = mine.endpoint_setting() if mine else None
    theirs = rigs.endpoint_setting() if rigs else None
    if setting is None or (theirs is not None and setting[1] == theirs[1]):
        return None
    return setting[0]


def _has_chain(path: tuple[str, ...]) -> str:
    return " && ".join(f"has(self.{'.'.join(path[: i + 1])})" for i in range(len(path)))


def api_key_rule(own: tuple[str, ...], field_path: str) -> dict[str, str]:
    """CEL: the object's own apiKeySecretRef (at path `own`) and agentConfig.modelProvider's
    agree when both are set."""
    theirs = ("agentConfig", "modelProvider", "apiKeySecretRef")
    return {
        "rule": f"!({_has_chain(own)} && {_has_chain(theirs)}) || "
        f"self.{'.'.join(own)} == self.{'.'.join(theirs)}",
        "message": f"{field_path} and agentConfig.modelProvider.apiKeySecretRef name different "
        "Secrets; keep one (both are the model's API key)",
    }


def check_one_api_key(own: SecretKeyRef | None, agent: AgentConfig | None, field_path: str) -> None:
    other = agent.api_key_ref if agent else None
    if own is not None and other is not None and own != other:
        raise ValueError(
            f"{field_path} ({own.name}/{own.key}) and agentConfig.modelProvider.apiKeySecretRef "
            f"({other.name}/{other.key}) name different Secrets; keep one (both are the "
            "model's API key)"
        )


class KubernetesSpec(Model):
    """Where and how the pod runs. Unset fields fall back to the rig's polecat defaults."""

    git_repository: GitURL | None = None
    git_branch: GitBranch | None = None
    work_branch: GitBranch | None = None
    git_secret_ref: SecretReference | None = None
    claude_creds_secret_ref: SecretReference | None = None
    api_key_secret_ref: SecretKeyRef | None = None
    forge_token_secret_ref: SecretKeyRef | None = None
    image: Image | None = None
    resources: ResourceRequirements | None = None
    active_deadline_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    pending_timeout_seconds: int | None = Field(default=None, ge=1, le=24 * 3600)
    ssh_known_hosts_config_map_ref: LocalObjectReference | None = None
    ssh_strict_host_key_checking: Literal["yes"] | None = None
    run_as_user: int | None = Field(default=None, ge=1, le=2**31 - 1)


class RetryPolicy(Model):
    """Transient failures (image pull, eviction, node loss) start a new attempt pod."""

    max_attempts: int = Field(default=2, ge=1, le=10)
    backoff_seconds: int = Field(default=10, ge=0, le=3600)


class CleanupPolicy(Model):
    """Failed pods are kept for their logs longer than succeeded ones."""

    failed_pod_ttl_seconds: int = Field(default=86400, ge=0)


class PolecatSpec(Model):
    rig: ObjectName
    desired_state: DesiredState = DesiredState.IDLE
    bead_id: BeadID | None = Field(default=None, alias="beadID")
    task_description: str | None = Field(default=None, max_length=TASK_DESCRIPTION_MAX)
    execution_mode: ExecutionMode = ExecutionMode.KUBERNETES
    kubernetes: KubernetesSpec | None = None
    agent: AgentType = AgentType.CLAUDE_CODE
    agent_config: AgentConfig | None = None
    resources: ResourceRequirements | None = None
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    max_idle_seconds: int | None = Field(default=None, ge=1)
    retry_policy: RetryPolicy | None = None
    cleanup_policy: CleanupPolicy | None = None
    convoy: ObjectName | None = None

    @model_validator(mode="after")
    def _one_api_key(self) -> PolecatSpec:
        own = self.kubernetes.api_key_secret_ref if self.kubernetes else None
        check_one_api_key(own, self.agent_config, "kubernetes.apiKeySecretRef")
        return self

    def secret_refs(self) -> list[tuple[str, str]]:
        """(field path, Secret name) for every Secret this spec names itself, in spec order:
        what a rig's polecatPolicy.allowedSecrets is checked against. ConfigMaps (known_hosts,
        env configMapKeyRef) are not Secrets and are not listed.
        tests/workflows/test_resolve.py walks the models so a new Secret field cannot be
        missed here."""
        refs: list[tuple[str, str]] = []
        k8s = self.kubernetes
        if k8s is not None:
            for field, ref in (
                ("gitSecretRef", k8s.git_secret_ref),
                ("claudeCredsSecretRef", k8s.claude_creds_secret_ref),
                ("apiKeySecretRef", k8s.api_key_secret_ref),
                ("forgeTokenSecretRef", k8s.forge_token_secret_ref),
            ):
                if ref is not None:
                    refs.append((f"spec.kubernetes.{field}", ref.name))
        agent = self.agent_config
        if agent is not None:
            if agent.api_key_ref is not None:
                refs.append(
                    ("spec.agentConfig.modelProvider.apiKeySecretRef", agent.api_key_ref.name)
                )
            for i, e in enumerate(agent.env or []):
                if e.value_from and e.value_from.secret_key_ref:
                    path = f"spec.agentConfig.env[{i}].valueFrom.secretKeyRef ({e.name})"
                    refs.append((path, e.value_from.secret_key_ref.name))
        return refs


class PolecatPhase(StrEnum):
    IDLE = "Idle"
    PENDING = "Pending"
    # Waiting for a slot under the rig's maxPolecats; starts when one frees.
    QUEUED = "Queued"
    # No fresh Claude credentials to be had (a replica session expired, a refresh refused):
    # parked, resumes by itself when the credentials Secret changes.
    WAITING_FOR_CREDENTIALS = "WaitingForCredentials"
    WORKING = "Working"
    DONE = "Done"
    FAILED = "Failed"
    STUCK = "Stuck"
    TERMINATED = "Terminated"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_PHASES


_FINAL_PHASES = frozenset(
    {PolecatPhase.DONE, PolecatPhase.FAILED, PolecatPhase.STUCK, PolecatPhase.TERMINATED}
)


class Outcome(StrEnum):
    """What the runtime in the pod reports (or what the workflow concludes without it)."""

    COMPLETED = "completed"
    NO_CHANGES = "no_changes"
    AGENT_FAILED = "agent_failed"
    AUTH_EXPIRED = "auth_expired"
    STUCK = "stuck"
    PUSH_FAILED = "push_failed"
    CLONE_FAILED = "clone_failed"
    POD_FAILED = "pod_failed"
    TERMINATED = "terminated"


class ContainerMirror(StatusModel):
    name: str
    state: Literal["waiting", "running", "terminated"] | None = None
    reason: str | None = None
    message: str | None = Field(default=None, max_length=4096)
    exit_code: int | None = None
    restart_count: int | None = None


class PodMirror(StatusModel):
    """Live pod state, written only by the watcher; the workflow never touches it."""

    name: str | None = None
    phase: str | None = None
    reason: str | None = None
    message: str | None = Field(default=None, max_length=4096)
    ready: bool | None = None
    containers: list[ContainerMirror] | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    observed_at: Time | None = None


class PolecatStatus(StatusModel):
    phase: PolecatPhase | None = None
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = None
    workflow_id: str | None = Field(default=None, alias="workflowID")
    # The run the status belongs to: a re-slung polecat's old Done must not read as the new one's.
    run_id: str | None = Field(default=None, alias="runID")
    pod_name: str | None = None
    attempt: int | None = Field(default=None, ge=0)
    branch: str | None = None
    commit: str | None = None
    pull_request_url: str | None = Field(default=None, alias="pullRequestURL")
    outcome: Outcome | None = None
    agent_cost_usd: float | None = Field(default=None, alias="agentCostUSD")
    started_at: Time | None = None
    finished_at: Time | None = None
    last_activity: Time | None = None
    message: str | None = Field(default=None, max_length=4096)
    pod: PodMirror | None = None


class Polecat(Model):
    KIND: ClassVar[str] = "Polecat"
    PLURAL: ClassVar[str] = "polecats"

    api_version: Literal["gastown.gastown.io/v1alpha1"] = "gastown.gastown.io/v1alpha1"
    kind: Literal["Polecat"] = "Polecat"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PolecatSpec
    status: PolecatStatus | None = None

    @field_validator("metadata")
    @classmethod
    def _check_name(cls, meta: ObjectMeta) -> ObjectMeta:
        check_object_name(meta.name, POLECAT_NAME_MAX)
        return meta
