"""Merging a polecat's spec with its rig's defaults: pure, so each precedence rule is tested.

Precedence, most specific first: the Polecat's `spec.kubernetes` block, its top-level
fields (the Go original had `resources` in both places), the Rig's
`settings.polecatDefaults`, then the operator's own defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gastown.api.common import EnvVar, SecretKeyRef, SecretReference
from gastown.api.polecat import (
    BASE_URL_ENV,
    AgentConfig,
    AgentType,
    KubernetesSpec,
    ModelProviderConfig,
    PolecatSpec,
    own_endpoint,
)
from gastown.api.rig import PolecatDefaults, Rig
from gastown.workflows.messages import Resolved, SecretKey


@dataclass(frozen=True)
class OperatorDefaults:
    """What the worker is configured with; see `gastown-operator worker --help`."""

    image: str = "ghcr.io/gastown/polecat-agent:0.1.0"
    active_deadline_seconds: int = 3600
    pending_timeout_seconds: int = 300
    image_pull_grace_seconds: int = 120
    succeeded_pod_ttl_seconds: int = 3600
    failed_pod_ttl_seconds: int = 86400
    # How long a polecat waits for credentials (parked, WaitingForCredentials) before it
    # gives up Failed with CredentialsUnavailable.
    credentials_wait_seconds: int = 86400
    # The namespaces whose polecats this worker runs; empty: all. A polecat elsewhere is
    # refused (Failed, NamespaceNotServed) before anything is created for it.
    namespaces: tuple[str, ...] = ()
    # The ServiceAccount polecat pods run as (`--pod-service-account`); None: the namespace's
    # default. Its token is never mounted (podspec.py).
    pod_service_account: str | None = None


class SpecError(ValueError):
    """The merged spec cannot run; the message names the field and the fix."""


def default_work_branch(bead_id: str) -> str:
    """`feature/<bead>`, as the Go original named it (and the seed's examples show)."""
    return f"feature/{bead_id}"


def _merge_agent_config(mine: AgentConfig | None, rigs: AgentConfig | None) -> AgentConfig | None:
    """Field by field: `sling --model` must not drop the rig's agent command or env.

    The result is built without validation: the one-endpoint rule holds per object (schema),
    and across the two `_model_endpoint` says which object set what."""
    if mine is None or rigs is None:
        return mine or rigs
    merged = rigs.model_dump(exclude_none=True)
    merged.update(mine.model_dump(exclude_none=True))
    if mine.model_provider and rigs.model_provider:
        provider = rigs.model_provider.model_dump(exclude_none=True)
        provider.update(mine.model_provider.model_dump(exclude_none=True))
        merged["model_provider"] = provider
    if mine.env and rigs.env:
        # By name: `sling --env A=1` adds to (or overrides one of) the rig's variables.
        by_name = {e.name: e for e in rigs.env} | {e.name: e for e in mine.env}
        merged["env"] = [e.model_dump(exclude_none=True) for e in by_name.values()]
    return AgentConfig.model_construct(
        **{
            **merged,
            "env": [EnvVar.model_validate(e) for e in merged.get("env") or []] or None,
            "model_provider": ModelProviderConfig.model_validate(merged["model_provider"])
            if merged.get("model_provider")
            else None,
        }
    )


def _image(
    k8s: KubernetesSpec,
    agent_config: AgentConfig | None,
    rig: PolecatDefaults,
    defaults: OperatorDefaults,
) -> tuple[str, str]:
    """The image and the field it came from (for a pin's refusal)."""
    for value, where in (
        (k8s.image, "spec.kubernetes.image"),
        (agent_config.image if agent_config else None, "agentConfig.image"),
        (rig.image, "the rig's settings.polecatDefaults.image"),
    ):
        if value:
            return value, where
    return defaults.image, "the worker's default image, gastown-operator worker --image"


def _check_pins(rig: Rig, repo_url: str, image: str, image_from: str) -> None:
    """The rig's spec.polecatPolicy: refused before anything is created for the polecat."""
    policy = rig.spec.polecat_policy
    if policy is None:
        return
    name = rig.metadata.name
    if not policy.repository_allowed(repo_url, rig.spec.git_url):
        allowed = [rig.spec.git_url, *(policy.allowed_repositories or [])]
        raise SpecError(
            f"spec.kubernetes.gitRepository {repo_url} is not allowed by rig {name}'s "
            f"spec.polecatPolicy.allowedRepositories (allowed: {', '.join(allowed)}; a "
            "prefix ends in '/'): use one of those, or have the rig's owner add it"
        )
    if not policy.image_allowed(image):
        raise SpecError(
            f"image {image} (from {image_from}) is not allowed by rig {name}'s "
            f"spec.polecatPolicy.allowedImages (allowed: "
            f"{', '.join(policy.allowed_images or []) or 'none'}; a prefix ends in '/' or ':'): "
            "use one of those, or have the rig's owner add it"
        )


def _check_secrets(rig: Rig, spec: PolecatSpec) -> None:
    """spec.polecatPolicy.allowedSecrets against every Secret the polecat names itself: the
    agent's container reads whatever its author names, so naming a Secret is reading it."""
    policy = rig.spec.polecat_policy
    if policy is None or policy.allowed_secrets is None:
        return
    for path, secret in spec.secret_refs():
        if not policy.secret_allowed(secret):
            raise SpecError(
                f"{path} names Secret {secret}, which rig {rig.metadata.name}'s "
                "spec.polecatPolicy.allowedSecrets does not allow (allowed: "
                f"{', '.join(policy.allowed_secrets) or 'none'}): name one of those, leave the "
                "field out to use the rig's settings.polecatDefaults, or have the rig's owner "
                "add it"
            )


_GIT_CONTAINER_REFS = ("spec.kubernetes.gitSecretRef", "spec.kubernetes.forgeTokenSecretRef")


def _model_credentials(
    spec: PolecatSpec, rig: Rig, rig_defaults: PolecatDefaults
) -> tuple[SecretReference | None, SecretKeyRef | None]:
    """The Claude Secret and the API key the agent gets: the polecat's own over the rig's,
    except that the rig's never follow an endpoint the polecat chose (as its git Secret never
    follows another repository): with one of its own, the polecat gets only its own; with
    none, it is refused (the model client would send the rig's credential to that server)."""
    k8s = spec.kubernetes or KubernetesSpec()
    own_creds = k8s.claude_creds_secret_ref
    own_key = _own_api_key(spec)
    creds = own_creds or rig_defaults.claude_creds_secret_ref
    api_key = own_key or _rig_api_key(rig_defaults)
    name = rig.metadata.name
    from_reference = rig_defaults.endpoint_from_a_reference()
    if from_reference and (rig_defaults.model_credentials() or rig_defaults.env_secrets()):
        raise SpecError(
            f"rig {name}'s {from_reference} takes the model endpoint from a ConfigMap or Secret "
            "of each polecat's namespace, so whoever may write that object there would choose "
            "where the rig's model credential goes: have the rig's owner set the endpoint "
            "itself, in settings.polecatDefaults.agentConfig.modelProvider.endpoint"
        )
    chosen = own_endpoint(spec.agent_config, rig_defaults.agent_config)
    if chosen is None:
        return creds, api_key
    fix = (
        "leave the endpoint out, or have the rig's owner set it in "
        "settings.polecatDefaults.agentConfig.modelProvider.endpoint"
    )
    rigs = rig_defaults.secret_names()
    # What the agent's container gets of the Secrets the polecat names (the git containers'
    # Secrets never meet the model client).
    for field, secret in spec.secret_refs():
        agents = not field.startswith(_GIT_CONTAINER_REFS)
        if agents and secret in rigs:
            raise SpecError(
                f"spec.{chosen} sets the polecat's own model endpoint, and {field} names "
                f"Secret {secret}, which rig {name}'s settings.polecatDefaults name: the rig's "
                f"Secrets go only to the rig's own endpoint. Name a Secret of the polecat's "
                f"own for that endpoint, {fix}"
            )
    mine = {e.name for e in (spec.agent_config.env if spec.agent_config else None) or []}
    credentials = [] if own_creds or own_key else rig_defaults.model_credentials()
    env = rig_defaults.env_secrets(overridden=mine)
    if credentials or env:
        steps = [
            "name the polecat's own spec.kubernetes.apiKeySecretRef (or claudeCredsSecretRef) "
            "for that endpoint"
            if credentials
            else "",
            "give the polecat's own value to those env items" if env else "",
        ]
        raise SpecError(
            f"spec.{chosen} sets the polecat's own model endpoint, but its model credential "
            f"is rig {name}'s ({', '.join(credentials + env)}), which goes only to the rig's "
            f"own endpoint: {' and '.join(s for s in steps if s)}, {fix}"
        )
    return own_creds, own_key


def _rig_repository(rig: Rig, repo_url: str) -> bool:
    """Whether the rig's own credentials may follow `repo_url`: the rig's gitURL, or one its
    spec.polecatPolicy.allowedRepositories names (an unpinned rig allows nothing else)."""
    if repo_url == rig.spec.git_url:
        return True
    policy = rig.spec.polecat_policy
    return (
        policy is not None
        and policy.allowed_repositories is not None
        and policy.repository_allowed(repo_url, rig.spec.git_url)
    )


def _model_endpoint(spec: PolecatSpec, rig: PolecatDefaults) -> str | None:
    """agentConfig.modelProvider.endpoint, the polecat's over the rig's; refused when the other
    object sets ANTHROPIC_BASE_URL in env (each object alone is checked by the schema)."""
    sources = (
        ("spec.agentConfig", spec.agent_config),
        ("the rig's polecatDefaults.agentConfig", rig.agent_config),
    )
    endpoint_from = next(
        (
            (where, c.model_provider.endpoint)
            for where, c in sources
            if c and c.model_provider and c.model_provider.endpoint
        ),
        None,
    )
    if endpoint_from is None:
        return None
    env_from = next(
        (where for where, c in sources if c and any(e.name == BASE_URL_ENV for e in c.env or [])),
        None,
    )
    if env_from is not None:
        raise SpecError(
            f"{endpoint_from[0]}.modelProvider.endpoint and {env_from}.env {BASE_URL_ENV} both "
            "set the model endpoint; keep one (modelProvider.endpoint)"
        )
    return endpoint_from[1]


def _own_api_key(spec: PolecatSpec) -> SecretKeyRef | None:
    """The polecat's own model API key: kubernetes.apiKeySecretRef or
    agentConfig.modelProvider.apiKeySecretRef (which the schema keeps equal)."""
    k8s = spec.kubernetes or KubernetesSpec()
    return k8s.api_key_secret_ref or (spec.agent_config.api_key_ref if spec.agent_config else None)


def _rig_api_key(rig: PolecatDefaults) -> SecretKeyRef | None:
    return rig.api_key_secret_ref or (rig.agent_config.api_key_ref if rig.agent_config else None)


def resolve(
    namespace: str,
    name: str,
    spec: PolecatSpec,
    rig: Rig,
    defaults: OperatorDefaults,
) -> Resolved:
    k8s = spec.kubernetes or KubernetesSpec()
    rig_defaults = rig.spec.settings.polecat_defaults or PolecatDefaults()
    agent_config = _merge_agent_config(spec.agent_config, rig_defaults.agent_config)
    if not spec.bead_id:
        raise SpecError("spec.beadID is required to start a polecat: set it to the bead to work on")

    _check_secrets(rig, spec)
    model_endpoint = _model_endpoint(spec, rig_defaults)
    creds, api_key = _model_credentials(spec, rig, rig_defaults)
    if spec.agent == AgentType.CLAUDE_CODE and not (creds or api_key):
        raise SpecError(
            "no Claude credentials: set spec.kubernetes.claudeCredsSecretRef (kubectl gt auth "
            "sync) or spec.kubernetes.apiKeySecretRef, or the rig's settings.polecatDefaults"
        )
    if spec.agent == AgentType.COMMAND and not (agent_config and agent_config.command):
        raise SpecError(
            "agent 'command' needs spec.agentConfig.command (an argv list), on the polecat or "
            "in the rig's settings.polecatDefaults.agentConfig"
        )

    repo_url = k8s.git_repository or rig.spec.git_url
    # The rig's git and forge Secrets follow only the rig's own repositories: the runtime's
    # credential helper and forge trust the repository's host, so a polecat naming another
    # repository would otherwise carry the rig's token there. A Secret the polecat names in
    # its own spec is its author's choice and stays.
    inherits = _rig_repository(rig, repo_url)
    git_secret = k8s.git_secret_ref or (rig_defaults.git_secret_ref if inherits else None)
    if not git_secret and not repo_url.startswith(("file://", "https://")):
        raise SpecError(
            f"repository {repo_url} needs an SSH key: set spec.kubernetes.gitSecretRef, or the "
            "rig's settings.polecatDefaults.gitSecretRef (given only for the rig's gitURL and "
            "its spec.polecatPolicy.allowedRepositories)"
        )
    image, image_from = _image(k8s, agent_config, rig_defaults, defaults)
    _check_pins(rig, repo_url, image, image_from)
    rig_forge = rig_defaults.forge_token_secret_ref if inherits else None
    forge = k8s.forge_token_secret_ref or rig_forge
    known_hosts = k8s.ssh_known_hosts_config_map_ref or rig_defaults.ssh_known_hosts_config_map_ref
    resources = k8s.resources or spec.resources or rig_defaults.resources
    retry = spec.retry_policy
    cleanup = spec.cleanup_policy
    env: list[dict[str, Any]] = [
        e.model_dump(mode="json", by_alias=True, exclude_none=True)
        for e in (agent_config.env or [] if agent_config else [])
    ]
    return Resolved(
        namespace=namespace,
        name=name,
        rig=spec.rig,
        bead_id=spec.bead_id,
        convoy=spec.convoy,
        repo_url=repo_url,
        base_branch=k8s.git_branch or rig_defaults.base_branch or "main",
        work_branch=k8s.work_branch or default_work_branch(spec.bead_id),
        image=image,
        agent=spec.agent.value,
        model=agent_config.model if agent_config else None,
        max_turns=agent_config.max_turns if agent_config else None,
        agent_args=list(agent_config.args or []) if agent_config else [],
        agent_command=list(agent_config.command or []) if agent_config else [],
        agent_env=env,
        resources=resources.to_k8s() if resources else None,
        has_task=bool(spec.task_description),
        git_secret=git_secret.name if git_secret else None,
        claude_creds_secret=creds.name if creds else None,
        api_key_secret=SecretKey(name=api_key.name, key=api_key.key) if api_key else None,
        forge_token_secret=SecretKey(name=forge.name, key=forge.key) if forge else None,
        known_hosts_configmap=known_hosts.name if known_hosts else None,
        run_as_user=k8s.run_as_user,
        active_deadline_seconds=k8s.active_deadline_seconds
        or rig_defaults.active_deadline_seconds
        or defaults.active_deadline_seconds,
        pending_timeout_seconds=k8s.pending_timeout_seconds or defaults.pending_timeout_seconds,
        image_pull_grace_seconds=defaults.image_pull_grace_seconds,
        max_idle_seconds=spec.max_idle_seconds,
        max_attempts=retry.max_attempts if retry else 2,
        backoff_seconds=retry.backoff_seconds if retry else 10,
        succeeded_pod_ttl_seconds=spec.ttl_seconds_after_finished
        if spec.ttl_seconds_after_finished is not None
        else defaults.succeeded_pod_ttl_seconds,
        failed_pod_ttl_seconds=cleanup.failed_pod_ttl_seconds
        if cleanup
        else defaults.failed_pod_ttl_seconds,
        credentials_wait_seconds=defaults.credentials_wait_seconds,
        service_account=defaults.pod_service_account,
        model_endpoint=model_endpoint,
        runtime_image=defaults.image,
    )
