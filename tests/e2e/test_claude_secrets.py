"""The real Claude Code CLI in a polecat pod, against a scripted Messages API, and a search
for its credentials everywhere they must never appear."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client

from gastown.api.identity import polecat_workflow_id
from gastown.kube import PODS, reading
from tests.e2e.conftest import ClusterKube, Result
from tests.runtime.conftest import CLAUDE_BIN
from tests.runtime.fake_anthropic import FakeAnthropic, bash_step, text_step

API_KEY = "sk-ant-api03-CANARYKEY-0123456789abcdef"
ACCESS_TOKEN = "sk-ant-oat01-CANARYACCESS-0123456789abcdef"
REFRESH_TOKEN = "sk-ant-ort01-CANARYREFRESH-0123456789abcdef"
CANARIES = (API_KEY, ACCESS_TOKEN, REFRESH_TOKEN)


@pytest.fixture
def fake_api() -> Iterator[FakeAnthropic]:
    script = [
        bash_step(
            "printf 'hello from claude\\n' > hello.txt && git add hello.txt && "
            "git commit -q -m 'dm-0001: add hello'"
        ),
        text_step("Added hello.txt and committed it."),
    ]
    fake = FakeAnthropic(script).start()
    yield fake
    fake.stop()


def claude_defaults(fake: FakeAnthropic) -> dict[str, Any]:
    if not CLAUDE_BIN.exists():
        pytest.fail(f"{CLAUDE_BIN} is missing: run `make test-tools`")
    env = {
        "ANTHROPIC_BASE_URL": fake.url,
        "GT_CLAUDE_BIN": str(CLAUDE_BIN),
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    return {"agentConfig": {"env": [{"name": k, "value": v} for k, v in env.items()]}}


def oauth_file(expires_in: float) -> str:
    return json.dumps(
        {
            "claudeAiOauth": {
                "accessToken": ACCESS_TOKEN,
                "refreshToken": REFRESH_TOKEN,
                "expiresAt": int((time.time() + expires_in) * 1000),
                "scopes": ["user:inference"],
            }
        }
    )


def secret(core: client.CoreV1Api, namespace: str, name: str, data: dict[str, str]) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data),
    )


def decoded_history(events: list[Any]) -> str:
    """The history as JSON with every payload's data decoded, so nothing hides in base64."""
    from google.protobuf.json_format import MessageToDict

    text = json.dumps([MessageToDict(e) for e in events])
    chunks = [text]
    for blob in json.loads(text):
        stack: list[Any] = [blob]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if "data" in node and isinstance(node["data"], str):
                    with contextlib.suppress(ValueError):
                        chunks.append(base64.b64decode(node["data"]).decode(errors="replace"))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return "\n".join(chunks)


async def test_claude_code_api_key_run_leaks_nothing(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
    kube: ClusterKube,
    temporal_client: Client,
    fake_api: FakeAnthropic,
    caplog: pytest.LogCaptureFixture,
    kubectl: Callable[..., Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    secret(core, namespace, "anthropic", {"api-key": API_KEY})
    rig = rig_factory(
        apiKeySecretRef={"name": "anthropic", "key": "api-key"}, **claude_defaults(fake_api)
    )
    result = await gt("sling", "dm-0001", rig, "--name", "furiosa", "--wait", "--timeout", "180")
    assert result.code == 0, result.err
    polecat = await kube.get_polecat(namespace, "furiosa")
    assert (polecat["status"]["phase"], polecat["status"]["outcome"]) == ("Done", "completed")
    assert fake_api.main_requests(), "claude never called the Messages API"
    assert fake_api.main_requests()[0].headers.get("x-api-key") == API_KEY

    handle = temporal_client.get_workflow_handle(polecat_workflow_id(namespace, "furiosa"))
    events = [e async for e in handle.fetch_history_events()]
    desc = await handle.describe()
    pod = await kube.run(reading.get(PODS, "polecat-furiosa-1", namespace))
    places = {
        "history": decoded_history(events),
        "memo": json.dumps(await desc.memo()),
        "search attributes": str(desc.typed_search_attributes),
        "polecat CR": json.dumps(polecat),
        "events": kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
        "pod status (termination messages)": json.dumps(pod["status"]),
        "pod spec": json.dumps(pod["spec"]),
        "logs claude": (await gt("polecat", "logs", f"{rig}/furiosa")).out,
        "logs git-init": (await gt("polecat", "logs", f"{rig}/furiosa", "-c", "git-init")).out,
        "cli output": result.out + result.err,
        "worker logs": caplog.text,
    }
    for where, text in places.items():
        assert text, f"{where} is empty: the search would prove nothing"
        for canary in CANARIES:
            assert canary not in text, f"a credential leaked into {where}"


async def test_expired_oauth_token_is_refused_before_any_pod(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
    kube: ClusterKube,
) -> None:
    secret(core, namespace, "claude-creds", {".credentials.json": oauth_file(-60)})
    rig = rig_factory(claudeCredsSecretRef={"name": "claude-creds"})
    result = await gt("sling", "dm-0001", rig, "--name", "nux", "--wait")
    assert result.code == 1
    assert "expired" in result.err
    assert "kubectl gt auth sync --force" in result.err
    for canary in CANARIES:
        assert canary not in result.err
    status = (await kube.get_polecat(namespace, "nux"))["status"]
    assert status["phase"] == "Failed"
    assert status["conditions"][0]["reason"] == "CredentialsExpired"
    assert "podName" not in status
