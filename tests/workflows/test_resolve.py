"""Polecat spec + rig defaults + operator defaults, most specific first."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from gastown.api.common import LocalObjectReference, SecretKeyRef, SecretReference
from gastown.api.polecat import PolecatSpec
from gastown.api.rig import Rig
from gastown.workflows.resolve import OperatorDefaults, SpecError, resolve

DEFAULTS = OperatorDefaults(image="example.org/polecat:1", active_deadline_seconds=900)


def rig(**defaults: Any) -> Rig:
    return Rig.model_validate(
        {
            "metadata": {"name": "demo-rig"},
            "spec": {
                "gitURL": "git@github.com:org/repo.git",
                "beadsPrefix": "dm",
                "settings": {"polecatDefaults": defaults} if defaults else {},
            },
        }
    )


def spec(**fields: Any) -> PolecatSpec:
    base: dict[str, Any] = {"rig": "demo-rig", "beadID": "dm-0001"}
    return PolecatSpec.model_validate({**base, **fields})


CREDS = {"claudeCredsSecretRef": {"name": "claude-creds"}, "gitSecretRef": {"name": "git-creds"}}


def test_rig_defaults_fill_the_gaps() -> None:
    r = resolve(
        "ns",
        "furiosa",
        spec(),
        rig(
            baseBranch="develop",
            image="example.org/custom:2",
            activeDeadlineSeconds=1200,
            **CREDS,
        ),
        DEFAULTS,
    )
    assert r.repo_url == "git@github.com:org/repo.git"
    assert (r.base_branch, r.work_branch) == ("develop", "feature/dm-0001")
    assert (r.image, r.active_deadline_seconds) == ("example.org/custom:2", 1200)
    assert (r.git_secret, r.claude_creds_secret) == ("git-creds", "claude-creds")
    assert (r.max_attempts, r.backoff_seconds) == (2, 10)


def test_polecat_spec_wins_over_rig_defaults() -> None:
    s = spec(
        kubernetes={
            "gitRepository": "https://github.com/org/other.git",
            "gitBranch": "main",
            "workBranch": "feature/x",
            "image": "example.org/mine:3",
            "activeDeadlineSeconds": 60,
            "apiKeySecretRef": {"name": "anthropic", "key": "api-key"},
        },
        retryPolicy={"maxAttempts": 3, "backoffSeconds": 1},
        ttlSecondsAfterFinished=0,
    )
    r = resolve("ns", "nux", s, rig(baseBranch="develop", image="example.org/custom:2"), DEFAULTS)
    assert r.repo_url == "https://github.com/org/other.git"
    assert (r.base_branch, r.work_branch, r.image) == ("main", "feature/x", "example.org/mine:3")
    assert r.active_deadline_seconds == 60
    assert r.api_key_secret is not None
    assert (r.api_key_secret.name, r.api_key_secret.key) == ("anthropic", "api-key")
    assert (r.max_attempts, r.succeeded_pod_ttl_seconds) == (3, 0)


def test_operator_defaults_come_last() -> None:
    r = resolve("ns", "nux", spec(), rig(**CREDS), DEFAULTS)
    assert (r.image, r.active_deadline_seconds) == ("example.org/polecat:1", 900)


def test_seed_resources_in_either_place() -> None:
    res = {"limits": {"cpu": "2", "memory": "4Gi"}}
    assert resolve("ns", "a", spec(resources=res), rig(**CREDS), DEFAULTS).resources == res
    inner = spec(kubernetes={"resources": res}, resources={"limits": {"cpu": 1}})
    assert resolve("ns", "a", inner, rig(**CREDS), DEFAULTS).resources == res


@pytest.mark.parametrize(
    ("fields", "rig_defaults", "message"),
    [
        ({"beadID": None}, CREDS, "spec.beadID is required"),
        ({}, {"gitSecretRef": {"name": "g"}}, "claudeCredsSecretRef"),
        ({}, {"claudeCredsSecretRef": {"name": "c"}}, "needs an SSH key"),
        ({"agent": "command"}, CREDS, "agentConfig.command"),
    ],
)
def test_unrunnable_specs_name_the_field(
    fields: dict[str, Any], rig_defaults: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        resolve("ns", "a", spec(**fields), rig(**rig_defaults), DEFAULTS)


def test_file_and_https_repositories_need_no_ssh_key() -> None:
    s = spec(kubernetes={"gitRepository": "file:///srv/git/repo.git"})
    r = resolve("ns", "a", s, rig(claudeCredsSecretRef={"name": "c"}), DEFAULTS)
    assert r.git_secret is None


def test_task_text_stays_out_of_the_resolved_spec() -> None:
    r = resolve("ns", "a", spec(taskDescription="x" * 100_000), rig(**CREDS), DEFAULTS)
    assert r.has_task
    assert "x" * 100 not in r.model_dump_json()


def test_agent_config_merges_field_by_field() -> None:
    r = resolve(
        "ns",
        "a",
        spec(agent="command", agentConfig={"model": "claude-opus-4"}),
        rig(
            agentConfig={"command": ["gt-polecat", "demo-agent"], "maxTurns": 5},
            gitSecretRef={"name": "git-creds"},
        ),
        DEFAULTS,
    )
    assert r.agent_command == ["gt-polecat", "demo-agent"]
    assert (r.model, r.max_turns) == ("claude-opus-4", 5)


def test_polecat_env_adds_to_the_rigs_by_name() -> None:
    """`sling --env A=2` overrides the rig's A and keeps the rig's other variables."""
    r = resolve(
        "ns",
        "a",
        spec(agentConfig={"env": [{"name": "A", "value": "2"}, {"name": "C", "value": "3"}]}),
        rig(
            agentConfig={"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "1"}]},
            **CREDS,
        ),
        DEFAULTS,
    )
    assert {e["name"]: e["value"] for e in r.agent_env} == {"A": "2", "B": "1", "C": "3"}


ENDPOINT = "https://llm.example.com/anthropic"
KEY = {"name": "llm-key", "key": "api-key"}
GIT = {"gitSecretRef": {"name": "git-creds"}}


def test_model_endpoint_is_resolved_the_polecats_over_the_rigs() -> None:
    rigs = rig(agentConfig={"modelProvider": {"endpoint": "https://rig.example.com"}}, **CREDS)
    assert resolve("ns", "a", spec(), rigs, DEFAULTS).model_endpoint == "https://rig.example.com"
    # With its own key (the rig's credential never follows the polecat's endpoint).
    mine = spec(agentConfig={"modelProvider": {"endpoint": ENDPOINT, "apiKeySecretRef": KEY}})
    assert resolve("ns", "a", mine, rigs, DEFAULTS).model_endpoint == ENDPOINT
    assert resolve("ns", "a", spec(), rig(**CREDS), DEFAULTS).model_endpoint is None


def test_an_endpoint_and_base_url_env_from_different_objects_are_refused() -> None:
    env = [{"name": "ANTHROPIC_BASE_URL", "value": "https://other.example.com"}]
    with pytest.raises(SpecError) as caught:
        resolve(
            "ns",
            "a",
            spec(agentConfig={"env": env}),
            rig(agentConfig={"modelProvider": {"endpoint": ENDPOINT}}, **CREDS),
            DEFAULTS,
        )
    assert str(caught.value) == (
        "the rig's polecatDefaults.agentConfig.modelProvider.endpoint and spec.agentConfig.env "
        "ANTHROPIC_BASE_URL both set the model endpoint; keep one (modelProvider.endpoint)"
    )
    # ANTHROPIC_BASE_URL in env alone keeps working: it reaches the agent as given (with the
    # polecat's own key: the rig's does not follow the polecat's endpoint).
    own = spec(agentConfig={"env": env}, kubernetes={"apiKeySecretRef": KEY})
    r = resolve("ns", "a", own, rig(**CREDS), DEFAULTS)
    assert (r.model_endpoint, r.agent_env) == (None, env)
    mine = spec(agentConfig={"env": env})
    r = resolve("ns", "a", mine, rig(agentConfig={"env": env}, **CREDS), DEFAULTS)
    assert (r.model_endpoint, r.agent_env, r.claude_creds_secret) == (None, env, "claude-creds")


def test_model_provider_api_key_is_the_api_key() -> None:
    """It satisfies the credentials check and becomes the pod's ANTHROPIC_API_KEY source."""
    r = resolve(
        "ns",
        "a",
        spec(agentConfig={"modelProvider": {"apiKeySecretRef": KEY}}),
        rig(**GIT),
        DEFAULTS,
    )
    assert r.api_key_secret is not None
    assert (r.api_key_secret.name, r.api_key_secret.key) == ("llm-key", "api-key")
    from_rig = rig(agentConfig={"modelProvider": {"apiKeySecretRef": KEY}}, **GIT)
    r = resolve("ns", "a", spec(), from_rig, DEFAULTS)
    assert r.api_key_secret is not None and r.api_key_secret.name == "llm-key"
    # The polecat's own key, by either field, wins over the rig's.
    rigs = rig(apiKeySecretRef={"name": "rig-key", "key": "k"}, **GIT)
    mine = spec(agentConfig={"modelProvider": {"apiKeySecretRef": KEY}})
    r = resolve("ns", "a", mine, rigs, DEFAULTS)
    assert r.api_key_secret is not None and r.api_key_secret.name == "llm-key"


def test_model_provider_merges_field_by_field() -> None:
    """The rig's endpoint stays when the polecat names only its own key."""
    rigs = rig(agentConfig={"modelProvider": {"endpoint": ENDPOINT}}, **GIT)
    mine = spec(agentConfig={"modelProvider": {"apiKeySecretRef": KEY}})
    r = resolve("ns", "a", mine, rigs, DEFAULTS)
    assert r.model_endpoint == ENDPOINT
    assert r.api_key_secret is not None and r.api_key_secret.name == "llm-key"


FORGE = {"forgeTokenSecretRef": {"name": "forge", "key": "token"}}


def pinned_rig(allowed: list[str] | None, **defaults: Any) -> Rig:
    r = rig(**defaults)
    if allowed is None:
        return r
    return Rig.model_validate(
        {
            "metadata": {"name": "demo-rig"},
            "spec": {
                **r.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                "polecatPolicy": {"allowedRepositories": allowed},
            },
        }
    )


def test_the_rigs_credentials_do_not_follow_another_repository() -> None:
    """An unpinned rig: a polecat naming another host gets neither the rig's git Secret nor
    its forge token (they would reach that host through the credential helper and forge)."""
    s = spec(kubernetes={"gitRepository": "https://evil.example/x.git"})
    r = resolve("ns", "a", s, rig(**CREDS, **FORGE), DEFAULTS)
    assert r.repo_url == "https://evil.example/x.git"
    assert (r.git_secret, r.forge_token_secret) == (None, None)
    # Over SSH it now needs its own key, and says where the rig's is given.
    ssh = spec(kubernetes={"gitRepository": "git@evil.example:x.git"})
    with pytest.raises(SpecError, match="given only for the rig's gitURL"):
        resolve("ns", "a", ssh, rig(**CREDS, **FORGE), DEFAULTS)


@pytest.mark.parametrize(
    ("repository", "allowed"),
    [
        (None, None),  # the rig's own gitURL, by default
        ("git@github.com:org/repo.git", None),  # the rig's gitURL named explicitly
        ("https://github.com/org/other.git", ["https://github.com/org/other.git"]),
        ("https://github.com/org/third.git", ["https://github.com/org/"]),
    ],
)
def test_the_rigs_repositories_keep_its_credentials(
    repository: str | None, allowed: list[str] | None
) -> None:
    s = spec(kubernetes={"gitRepository": repository} if repository else {})
    r = resolve("ns", "a", s, pinned_rig(allowed, **CREDS, **FORGE), DEFAULTS)
    assert r.git_secret == "git-creds"
    assert r.forge_token_secret is not None
    assert (r.forge_token_secret.name, r.forge_token_secret.key) == ("forge", "token")


def test_a_polecats_own_secrets_follow_its_own_repository() -> None:
    own = {"gitSecretRef": {"name": "mine"}, "forgeTokenSecretRef": {"name": "mf", "key": "t"}}
    s = spec(kubernetes={"gitRepository": "https://elsewhere.example/x.git", **own})
    r = resolve("ns", "a", s, rig(**CREDS, **FORGE), DEFAULTS)
    assert r.git_secret == "mine"
    assert r.forge_token_secret is not None and r.forge_token_secret.name == "mf"


def test_the_runtime_image_is_the_workers_whatever_the_polecat_names() -> None:
    s = spec(kubernetes={"image": "evil.example/agent:1"})
    r = resolve("ns", "a", s, rig(image="example.org/custom:2", **CREDS), DEFAULTS)
    assert (r.image, r.runtime_image) == ("evil.example/agent:1", "example.org/polecat:1")


# ---------------------------------------------------------------- naming a Secret is reading it


def policy_rig(policy: dict[str, Any], **defaults: Any) -> Rig:
    r = rig(**defaults)
    return Rig.model_validate(
        {
            "metadata": {"name": "demo-rig"},
            "spec": {
                **r.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                "polecatPolicy": policy,
            },
        }
    )


def _flat(annotation: Any, in_list: bool = False) -> Iterator[tuple[Any, bool]]:
    """The classes an annotation holds (through Optional, unions and lists)."""
    args = get_args(annotation)
    if not args:
        yield annotation, in_list
        return
    is_list = get_origin(annotation) is list
    for arg in args:
        yield from _flat(arg, in_list or is_list)


def secret_fields(model: type[BaseModel], prefix: str) -> set[str]:
    """Every field under `model` typed as a reference to a Secret (LocalObjectReference may
    be one too), by its path in the CR."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        for kind, in_list in _flat(info.annotation):
            path = f"{prefix}.{info.alias or name}{'[]' if in_list else ''}"
            if kind in (SecretKeyRef, SecretReference, LocalObjectReference):
                found.add(path)
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= secret_fields(kind, path)
    return found


EVERY_SECRET = {
    "kubernetes": {
        "gitSecretRef": {"name": "s-git"},
        "claudeCredsSecretRef": {"name": "s-claude"},
        "apiKeySecretRef": {"name": "s-key", "key": "k"},
        "forgeTokenSecretRef": {"name": "s-forge", "key": "t"},
    },
    "agentConfig": {
        "modelProvider": {"apiKeySecretRef": {"name": "s-key", "key": "k"}},
        "env": [
            {"name": "PLAIN", "value": "x"},
            {"name": "FROM_MAP", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "k"}}},
        ],
    },
}


def test_every_secret_field_of_a_polecat_is_checked() -> None:
    """The models are walked, so a Secret field added to PolecatSpec without teaching
    secret_refs() about it fails here rather than slipping past allowedSecrets."""
    in_models = secret_fields(PolecatSpec, "spec") - {
        "spec.kubernetes.sshKnownHostsConfigMapRef"  # a ConfigMap, not a Secret
    }
    refs = spec(**EVERY_SECRET).secret_refs()
    listed = {re.sub(r"\[\d+\]", "[]", path.split(" ")[0]) for path, _ in refs}
    assert listed == in_models
    assert refs == [
        ("spec.kubernetes.gitSecretRef", "s-git"),
        ("spec.kubernetes.claudeCredsSecretRef", "s-claude"),
        ("spec.kubernetes.apiKeySecretRef", "s-key"),
        ("spec.kubernetes.forgeTokenSecretRef", "s-forge"),
        ("spec.agentConfig.modelProvider.apiKeySecretRef", "s-key"),
        ("spec.agentConfig.env[2].valueFrom.secretKeyRef (TOKEN)", "s-env"),
    ]


ALL_NAMED = ["s-git", "s-claude", "s-key", "s-forge", "s-env"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gitSecretRef", {"name": "other"}),
        ("claudeCredsSecretRef", {"name": "other"}),
        ("apiKeySecretRef", {"name": "other", "key": "k"}),
        ("forgeTokenSecretRef", {"name": "other", "key": "t"}),
    ],
)
def test_a_secret_outside_allowed_secrets_is_refused(field: str, value: dict[str, str]) -> None:
    s = spec(kubernetes={field: value})
    with pytest.raises(SpecError) as caught:
        resolve("ns", "a", s, policy_rig({"allowedSecrets": ALL_NAMED}, **CREDS), DEFAULTS)
    assert str(caught.value) == (
        f"spec.kubernetes.{field} names Secret other, which rig demo-rig's "
        "spec.polecatPolicy.allowedSecrets does not allow (allowed: s-git, s-claude, s-key, "
        "s-forge, s-env): name one of those, leave the field out to use the rig's "
        "settings.polecatDefaults, or have the rig's owner add it"
    )


def test_an_agent_secret_outside_allowed_secrets_is_refused() -> None:
    """The model key beside its endpoint, and an env valueFrom.secretKeyRef (merged over the
    rig's env by name: the polecat's own item is the one checked)."""
    rigs = policy_rig(
        {"allowedSecrets": ["s-env"]},
        agentConfig={"env": [{"name": "TOKEN", "value": "rig's"}]},
        **CREDS,
    )
    key = spec(agentConfig={"modelProvider": {"apiKeySecretRef": {"name": "other", "key": "k"}}})
    with pytest.raises(SpecError, match=r"^spec\.agentConfig\.modelProvider\.apiKeySecretRef "):
        resolve("ns", "a", key, rigs, DEFAULTS)
    ref = {"secretKeyRef": {"name": "git-creds", "key": "ssh-privatekey"}}
    env = spec(
        agentConfig={"env": [{"name": "A", "value": "1"}, {"name": "TOKEN", "valueFrom": ref}]}
    )
    with pytest.raises(SpecError) as caught:
        resolve("ns", "a", env, rigs, DEFAULTS)
    # The rig's own git Secret too: the polecat may not hand it to the agent's container.
    assert str(caught.value).startswith(
        "spec.agentConfig.env[1].valueFrom.secretKeyRef (TOKEN) names Secret git-creds, which "
        "rig demo-rig's spec.polecatPolicy.allowedSecrets does not allow (allowed: s-env)"
    )
    # An empty list allows none, and says so.
    with pytest.raises(SpecError, match=r"\(allowed: none\)"):
        resolve("ns", "a", env, policy_rig({"allowedSecrets": []}, **CREDS), DEFAULTS)


def test_secrets_in_allowed_secrets_are_named_as_before() -> None:
    r = resolve(
        "ns", "a", spec(**EVERY_SECRET), policy_rig({"allowedSecrets": ALL_NAMED}), DEFAULTS
    )
    assert (r.git_secret, r.claude_creds_secret) == ("s-git", "s-claude")
    assert r.api_key_secret is not None and r.api_key_secret.name == "s-key"
    assert r.forge_token_secret is not None and r.forge_token_secret.name == "s-forge"
    tokens = [e for e in r.agent_env if e["name"] == "TOKEN"]
    assert tokens == [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "k"}}}
    ]


def test_without_allowed_secrets_any_secret_may_be_named() -> None:
    """Unset (the policy, or its allowedSecrets): as before, naming a Secret is reading it."""
    for rigs in (rig(), policy_rig({"allowedImages": ["example.org/"]})):
        r = resolve("ns", "a", spec(**EVERY_SECRET), rigs, DEFAULTS)
        assert (r.git_secret, r.claude_creds_secret) == ("s-git", "s-claude")


def test_the_rigs_own_secrets_need_no_allowance() -> None:
    """What settings.polecatDefaults names is the rig owner's choice: given with an empty
    allowedSecrets, env secretKeyRef and model key included."""
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "rig-env", "key": "k"}}}]
    rigs = policy_rig(
        {"allowedSecrets": []},
        apiKeySecretRef={"name": "rig-key", "key": "k"},
        agentConfig={"env": env},
        **CREDS,
        **FORGE,
    )
    r = resolve("ns", "a", spec(agentConfig={"model": "claude-opus-4"}), rigs, DEFAULTS)
    assert (r.git_secret, r.claude_creds_secret) == ("git-creds", "claude-creds")
    assert r.api_key_secret is not None and r.api_key_secret.name == "rig-key"
    assert r.forge_token_secret is not None and r.forge_token_secret.name == "forge"
    assert r.agent_env == env


# ---------------------------------------------------------------- the rig's model credential

RIG_KEY = {"apiKeySecretRef": {"name": "rig-key", "key": "k"}, **GIT}
OWN = "own-endpoint.example"


def endpoint_refusal(chosen: str, inherited: str) -> str:
    return (
        f"spec.{chosen} sets the polecat's own model endpoint, but its model credential is rig "
        f"demo-rig's ({inherited}), which goes only to the rig's own endpoint: name the "
        "polecat's own spec.kubernetes.apiKeySecretRef (or claudeCredsSecretRef) for that "
        "endpoint, leave the endpoint out, or have the rig's owner set it in "
        "settings.polecatDefaults.agentConfig.modelProvider.endpoint"
    )


@pytest.mark.parametrize(
    ("agent_config", "chosen"),
    [
        (
            {"modelProvider": {"endpoint": f"https://{OWN}/v1"}},
            "agentConfig.modelProvider.endpoint",
        ),
        (
            {
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "ANTHROPIC_BASE_URL", "value": f"https://{OWN}"},
                ]
            },
            "agentConfig.env[1] (ANTHROPIC_BASE_URL)",
        ),
        (
            {
                "env": [
                    {
                        "name": "ANTHROPIC_BASE_URL",
                        "valueFrom": {"configMapKeyRef": {"name": "mine", "key": "url"}},
                    }
                ]
            },
            "agentConfig.env[0] (ANTHROPIC_BASE_URL)",
        ),
    ],
)
def test_the_rigs_model_credential_does_not_follow_the_polecats_endpoint(
    agent_config: dict[str, Any], chosen: str
) -> None:
    """Always, pinned or not: the model client would send the rig's key (or OAuth token)
    with every request to the server the polecat's author chose. The value is not quoted."""
    for rigs, inherited in (
        (rig(**RIG_KEY), "settings.polecatDefaults.apiKeySecretRef"),
        (rig(**CREDS), "settings.polecatDefaults.claudeCredsSecretRef"),
        (
            rig(agentConfig={"modelProvider": {"apiKeySecretRef": KEY}}, **GIT),
            "settings.polecatDefaults.agentConfig.modelProvider.apiKeySecretRef",
        ),
    ):
        for agent in ("claude-code", "command"):
            with pytest.raises(SpecError) as caught:
                resolve("ns", "a", spec(agent=agent, agentConfig=agent_config), rigs, DEFAULTS)
            assert str(caught.value) == endpoint_refusal(chosen, inherited)
            assert OWN not in str(caught.value)


def test_another_endpoint_than_the_rigs_is_the_polecats_own() -> None:
    provider = {"endpoint": ENDPOINT, "apiKeySecretRef": KEY}
    rigs = rig(agentConfig={"modelProvider": provider}, **GIT)
    mine = spec(agentConfig={"modelProvider": {"endpoint": f"https://{OWN}"}})
    with pytest.raises(SpecError) as caught:
        resolve("ns", "a", mine, rigs, DEFAULTS)
    assert str(caught.value) == endpoint_refusal(
        "agentConfig.modelProvider.endpoint",
        "settings.polecatDefaults.agentConfig.modelProvider.apiKeySecretRef",
    )


def test_the_rigs_endpoint_repeated_by_the_polecat_keeps_the_rigs_credential() -> None:
    env = [{"name": "ANTHROPIC_BASE_URL", "value": ENDPOINT}]
    rigs = rig(agentConfig={"env": env}, **RIG_KEY)
    r = resolve("ns", "a", spec(agentConfig={"env": env}), rigs, DEFAULTS)
    assert r.api_key_secret is not None and r.api_key_secret.name == "rig-key"
    rigs = rig(agentConfig={"modelProvider": {"endpoint": ENDPOINT}}, **RIG_KEY)
    mine = spec(agentConfig={"modelProvider": {"endpoint": ENDPOINT}})
    r = resolve("ns", "a", mine, rigs, DEFAULTS)
    assert (r.model_endpoint, r.api_key_secret and r.api_key_secret.name) == (ENDPOINT, "rig-key")


def test_a_polecat_with_its_own_credential_gets_only_its_own_at_its_endpoint() -> None:
    """The rig's other model credential stays behind too (Claude creds beside the polecat's
    key, or the rig's key beside the polecat's Claude creds)."""
    rigs = rig(**CREDS, apiKeySecretRef={"name": "rig-key", "key": "k"})
    mine = spec(
        agentConfig={"modelProvider": {"endpoint": f"https://{OWN}", "apiKeySecretRef": KEY}}
    )
    r = resolve("ns", "a", mine, rigs, DEFAULTS)
    assert r.model_endpoint == f"https://{OWN}"
    assert r.api_key_secret is not None and r.api_key_secret.name == "llm-key"
    assert r.claude_creds_secret is None
    creds = spec(
        kubernetes={"claudeCredsSecretRef": {"name": "my-creds"}},
        agentConfig={"modelProvider": {"endpoint": f"https://{OWN}"}},
    )
    r = resolve("ns", "a", creds, rigs, DEFAULTS)
    assert (r.claude_creds_secret, r.api_key_secret) == ("my-creds", None)
    # Without the polecat's endpoint, both are given as before.
    r = resolve("ns", "a", spec(kubernetes={"apiKeySecretRef": KEY}), rigs, DEFAULTS)
    assert r.claude_creds_secret == "claude-creds"
    assert r.api_key_secret is not None and r.api_key_secret.name == "llm-key"


def test_an_endpoint_without_any_model_credential_is_the_polecats_to_choose() -> None:
    """A command agent on a rig that gives no model credential: nothing of the rig's goes
    there."""
    mine = spec(
        agent="command", agentConfig={"command": ["x"], "modelProvider": {"endpoint": ENDPOINT}}
    )
    r = resolve("ns", "a", mine, rig(**GIT), DEFAULTS)
    assert (r.model_endpoint, r.api_key_secret, r.claude_creds_secret) == (ENDPOINT, None, None)


# ------------------------------------- the rig's credential under another name, or in env

EVIL = f"https://{OWN}/v1"


@pytest.mark.parametrize(
    ("rig_fields", "own"),
    [
        (RIG_KEY, {"kubernetes": {"apiKeySecretRef": {"name": "rig-key", "key": "k"}}}),
        (CREDS, {"kubernetes": {"claudeCredsSecretRef": {"name": "claude-creds"}}}),
        # Any Secret the rig names, used as the polecat's model key: its git Secret.
        (RIG_KEY, {"kubernetes": {"apiKeySecretRef": {"name": "git-creds", "key": "token"}}}),
    ],
)
def test_a_rig_secret_named_as_the_polecats_own_does_not_follow_its_endpoint(
    rig_fields: dict[str, Any], own: dict[str, Any]
) -> None:
    """Naming the rig's Secret itself is not bringing a credential of one's own."""
    mine = spec(**own, agentConfig={"modelProvider": {"endpoint": EVIL}})
    with pytest.raises(SpecError) as caught:
        resolve("ns", "a", mine, rig(**rig_fields), DEFAULTS)
    assert "which rig demo-rig's settings.polecatDefaults name" in str(caught.value)
    assert OWN not in str(caught.value)


def test_the_rigs_env_secrets_do_not_follow_the_polecats_endpoint() -> None:
    """A gateway's header from a Secret (ANTHROPIC_AUTH_TOKEN is reserved, so a rig would use
    ANTHROPIC_CUSTOM_HEADERS) goes with every model request, like a key."""
    header = {
        "name": "ANTHROPIC_CUSTOM_HEADERS",
        "valueFrom": {"secretKeyRef": {"name": "gw-auth", "key": "h"}},
    }
    rigs = rig(agentConfig={"env": [header]}, **GIT)
    own_key = {"modelProvider": {"endpoint": EVIL, "apiKeySecretRef": KEY}}
    with pytest.raises(SpecError) as caught:
        resolve("ns", "a", spec(agentConfig=own_key), rigs, DEFAULTS)
    assert "settings.polecatDefaults.agentConfig.env ANTHROPIC_CUSTOM_HEADERS (Secret gw-auth)" in (
        str(caught.value)
    )
    assert "give the polecat's own value to those env items" in str(caught.value)
    # The polecat's own value for it: nothing of the rig's goes there.
    replaced = {**own_key, "env": [{"name": "ANTHROPIC_CUSTOM_HEADERS", "value": "x: y"}]}
    r = resolve("ns", "a", spec(agentConfig=replaced), rigs, DEFAULTS)
    assert r.model_endpoint == EVIL
    assert r.agent_env == [{"name": "ANTHROPIC_CUSTOM_HEADERS", "value": "x: y"}]
    # Without an endpoint of the polecat's, the rig's header is given as before.
    r = resolve("ns", "a", spec(kubernetes={"apiKeySecretRef": KEY}), rigs, DEFAULTS)
    assert r.agent_env == [header]


def test_a_rig_endpoint_read_from_the_polecats_namespace_is_refused_with_a_credential() -> None:
    """The Rig is cluster-wide: a ConfigMap of that name in each polecat's namespace would
    choose where the rig's key goes."""
    base_url = {
        "name": "ANTHROPIC_BASE_URL",
        "valueFrom": {"configMapKeyRef": {"name": "model", "key": "url"}},
    }
    with pytest.raises(SpecError) as caught:
        resolve("ns", "a", spec(), rig(agentConfig={"env": [base_url]}, **RIG_KEY), DEFAULTS)
    assert str(caught.value).startswith(
        "rig demo-rig's settings.polecatDefaults.agentConfig.env ANTHROPIC_BASE_URL takes the "
        "model endpoint from a ConfigMap or Secret of each polecat's namespace"
    )
    # No credential of the rig's: nothing of the rig's goes there.
    command = spec(agent="command", agentConfig={"command": ["x"]})
    r = resolve("ns", "a", command, rig(agentConfig={"env": [base_url]}, **GIT), DEFAULTS)
    assert r.agent_env == [base_url]


@pytest.mark.parametrize("where", ["polecat", "rig"])
def test_an_env_name_given_twice_is_refused(where: str) -> None:
    """The pod would take the last; a check reading the first would judge another value
    (the rig's endpoint first, another after it)."""
    env = [
        {"name": "ANTHROPIC_BASE_URL", "value": ENDPOINT},
        {"name": "ANTHROPIC_BASE_URL", "value": EVIL},
    ]
    build = (
        (lambda: spec(agentConfig={"env": env}))
        if where == "polecat"
        else (lambda: rig(agentConfig={"env": env}, **RIG_KEY))
    )
    with pytest.raises(ValueError, match="names ANTHROPIC_BASE_URL more than once"):
        build()


@pytest.mark.parametrize(
    ("name", "secret"),
    [("ANTHROPIC_CUSTOM_HEADERS", "gw-auth"), ("ANTHROPIC_MODEL", "rig-key")],
)
def test_the_polecats_own_env_reading_a_rig_secret_does_not_follow_its_endpoint(
    name: str, secret: str
) -> None:
    """Replacing the rig's env item by one that reads the same Secret (or putting the rig's
    key into any variable the model client sends) is still the rig's Secret."""
    header = {
        "name": "ANTHROPIC_CUSTOM_HEADERS",
        "valueFrom": {"secretKeyRef": {"name": "gw-auth", "key": "h"}},
    }
    rigs = rig(agentConfig={"env": [header]}, **RIG_KEY)
    mine = {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": "h"}}}
    config = {"modelProvider": {"endpoint": EVIL, "apiKeySecretRef": KEY}, "env": [mine]}
    with pytest.raises(SpecError) as caught:
        resolve("ns", "a", spec(agentConfig=config), rigs, DEFAULTS)
    assert f"spec.agentConfig.env[0].valueFrom.secretKeyRef ({name}) names Secret {secret}" in (
        str(caught.value)
    )
