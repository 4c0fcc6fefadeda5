"""Env names the runtime owns are refused wherever a user sets env: pydantic and the CRD's rule.

The CEL half goes through the real kubectl against the sandbox API server, which evaluates the
committed CRDs' rules; the pydantic half is what `kubectl gt` validates with before it sends
anything (tests/cli/test_sling_usage.py drives that through the CLI).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from gastown.api.envnames import RESERVED_NAMES, RESERVED_PREFIXES, is_reserved
from gastown.api.polecat import Polecat
from gastown.api.rig import Rig
from tests.conftest import Cluster

HOSTILE = ["GT_FORGE_API_URL", "GIT_CONFIG_GLOBAL", "ANTHROPIC_API_KEY", "CLAUDE_CONFIG_DIR"]
ALLOWED = ["ANTHROPIC_BASE_URL", "GITHUB_TOKEN", "SSHD", "GTX", "FOO", "ANTHROPIC_MODEL"]


def test_the_reserved_set_is_the_issues() -> None:
    assert RESERVED_PREFIXES == ("GT_", "GIT_", "SSH_")
    assert {
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "CLAUDE_CONFIG_DIR",
    } == RESERVED_NAMES
    for name in [*HOSTILE, "GT_CLAUDE_BIN", "SSH_AUTH_SOCK", "CLAUDE_CODE_OAUTH_TOKEN"]:
        assert is_reserved(name), name
    for name in ALLOWED:
        assert not is_reserved(name), name


def polecat_doc(namespace: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": "furiosa", "namespace": namespace},
        "spec": {"rig": "demo-rig", "beadID": "dm-1", "agentConfig": {"env": env}},
    }


def rig_doc(env: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Rig",
        "metadata": {"name": "pinned-env-rig"},
        "spec": {
            "gitURL": "https://example.com/org/repo.git",
            "beadsPrefix": "dm",
            "settings": {"polecatDefaults": {"agentConfig": {"env": env}}},
        },
    }


@pytest.mark.parametrize("name", [*HOSTILE, "GT_CLAUDE_BIN", "SSH_AUTH_SOCK"])
def test_pydantic_refuses_a_reserved_name_naming_it_and_the_way_out(name: str) -> None:
    env = [{"name": "FOO", "value": "1"}, {"name": name, "value": "x"}]
    for model, doc in ((Polecat, polecat_doc("ns", env)), (Rig, rig_doc(env))):
        with pytest.raises(ValidationError) as caught:
            model.model_validate(doc)
        error = caught.value.errors()[0]
        assert error["loc"][-3:] == ("env", 1, "name")
        assert f"{name} is reserved for the runtime (GT_*, GIT_*, SSH_*" in error["msg"]
        assert "modelProvider.endpoint" in error["msg"]


def test_pydantic_takes_the_names_that_are_not_reserved() -> None:
    env = [{"name": n, "value": "x"} for n in ALLOWED]
    polecat = Polecat.model_validate(polecat_doc("ns", env))
    assert polecat.spec.agent_config is not None
    assert [e.name for e in polecat.spec.agent_config.env or []] == ALLOWED


def test_kubectl_apply_of_a_polecat_with_reserved_env_gets_the_rules_message(
    cluster: Cluster, namespace: str
) -> None:
    env = [{"name": "FOO", "value": "1"}] + [{"name": n, "value": "x"} for n in HOSTILE]
    result = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(polecat_doc(namespace, env)))
    assert result.returncode != 0, result.stdout
    for index, name in enumerate(HOSTILE, start=1):
        assert (
            f'spec.agentConfig.env[{index}].name: Invalid value: "object": {name} is reserved '
            "for the runtime (GT_*, GIT_*, SSH_*, ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, "
            "CLAUDE_CODE_OAUTH_TOKEN, CLAUDE_CONFIG_DIR)"
        ) in result.stderr, result.stderr
    assert "spec.agentConfig.env[0]" not in result.stderr
    got = cluster.kubectl("get", "polecat", "furiosa", "-n", namespace)
    assert got.returncode != 0 and "NotFound" in got.stderr, got.stdout


def test_kubectl_apply_of_a_rig_with_reserved_default_env_is_refused(cluster: Cluster) -> None:
    env = [{"name": "GIT_SSH_COMMAND", "value": "sh -c 'curl evil'"}]
    result = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(rig_doc(env)))
    assert result.returncode != 0, result.stdout
    assert (
        'spec.settings.polecatDefaults.agentConfig.env[0].name: Invalid value: "object": '
        "GIT_SSH_COMMAND is reserved for the runtime"
    ) in result.stderr, result.stderr
    got = cluster.kubectl("get", "rig", "pinned-env-rig")
    assert got.returncode != 0 and "NotFound" in got.stderr, got.stdout


def test_kubectl_apply_takes_a_polecat_with_allowed_env(cluster: Cluster, namespace: str) -> None:
    env = [{"name": n, "value": "x"} for n in ALLOWED]
    result = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(polecat_doc(namespace, env)))
    assert result.returncode == 0, result.stderr
    got = cluster.kubectl("get", "polecat", "furiosa", "-n", namespace, "-o", "json")
    stored = json.loads(got.stdout)["spec"]["agentConfig"]["env"]
    assert [e["name"] for e in stored] == ALLOWED


def test_kubectl_apply_of_an_env_name_given_twice_is_refused(
    cluster: Cluster, namespace: str
) -> None:
    """The pod would take the last of two; the CRD's rule refuses the pair (pydantic too:
    tests/workflows/test_resolve.py)."""
    env = [
        {"name": "ANTHROPIC_BASE_URL", "value": "https://gateway.example"},
        {"name": "FOO", "value": "1"},
        {"name": "ANTHROPIC_BASE_URL", "value": "https://elsewhere.example"},
    ]
    for doc, where in (
        (polecat_doc(namespace, env), "spec.agentConfig.env"),
        (rig_doc(env), "spec.settings.polecatDefaults.agentConfig.env"),
    ):
        result = cluster.kubectl("apply", "-f", "-", stdin=json.dumps(doc))
        assert result.returncode != 0, result.stdout
        assert (
            f"{where}: Invalid value: " in result.stderr
            and "env names a variable more than once; keep one item per name" in result.stderr
        ), result.stderr
    assert cluster.kubectl("get", "polecat", "furiosa", "-n", namespace).returncode != 0
    assert cluster.kubectl("get", "rig", "pinned-env-rig").returncode != 0
