"""The agent's env as `_env()` builds it: what the user may add and what stays the runtime's."""

from __future__ import annotations

from typing import Any

from gastown.activities.podspec import build_pod
from gastown.workflows.messages import SecretKey
from tests.activities.test_podspec import env_of, request


def agent(pod: dict[str, Any]) -> dict[str, Any]:
    """The agent's container: the init container `claude` (the pod split)."""
    return next(c for c in pod["spec"]["initContainers"] if c["name"] == "claude")


def publisher(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "publish")


def test_reserved_user_env_is_dropped_even_when_we_set_no_such_variable() -> None:
    """A CR stored before the schema refused these names must not reach the runtime with
    them: none of these is one the operator sets, so "ours win" alone would let them in."""
    hostile = [
        {"name": "GT_FORGE_API_URL", "value": "http://evil.example"},
        {"name": "GT_CLAUDE_BIN", "value": "/tmp/evil"},
        {"name": "GIT_CONFIG_GLOBAL", "value": "/tmp/evil.gitconfig"},
        {"name": "SSH_AUTH_SOCK", "value": "/tmp/agent"},
        {"name": "ANTHROPIC_AUTH_TOKEN", "value": "stolen"},
        {"name": "CLAUDE_CODE_OAUTH_TOKEN", "value": "stolen"},
        {"name": "ANTHROPIC_BASE_URL", "value": "https://llm.example/v1"},
        {"name": "FOO", "value": "1"},
    ]
    pod = build_pod(request(agent_env=hostile))
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        env = env_of(container)
        for name in (
            "GT_FORGE_API_URL",
            "GT_CLAUDE_BIN",
            "GIT_CONFIG_GLOBAL",
            "SSH_AUTH_SOCK",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
        ):
            assert name not in env, (container["name"], name)
    env = env_of(agent(pod))
    assert env["FOO"] == "1"
    assert env["ANTHROPIC_BASE_URL"] == "https://llm.example/v1"
    assert "FOO" not in env_of(publisher(pod))  # user env is the agent's only


def test_model_endpoint_is_the_agents_anthropic_base_url() -> None:
    pod = build_pod(request(model_endpoint="https://llm.example.com/anthropic"))
    env = env_of(agent(pod))
    assert env["ANTHROPIC_BASE_URL"] == "https://llm.example.com/anthropic"
    assert "ANTHROPIC_BASE_URL" not in env_of(agent(build_pod(request())))


def test_model_provider_api_key_reaches_the_pod_by_reference() -> None:
    pod = build_pod(request(api_key_secret=SecretKey(name="llm-key", key="api-key")))
    env = env_of(agent(pod))
    assert env["ANTHROPIC_API_KEY"] == {"secretKeyRef": {"name": "llm-key", "key": "api-key"}}
    assert "ANTHROPIC_API_KEY" not in env_of(publisher(pod))  # the model key is the agent's only
