"""Polecat spec + rig defaults + operator defaults, most specific first."""

from __future__ import annotations

from typing import Any

import pytest

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
    mine = spec(agentConfig={"modelProvider": {"endpoint": ENDPOINT}})
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
    # ANTHROPIC_BASE_URL in env alone keeps working: it reaches the agent as given.
    r = resolve("ns", "a", spec(agentConfig={"env": env}), rig(**CREDS), DEFAULTS)
    assert (r.model_endpoint, r.agent_env) == (None, env)


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
