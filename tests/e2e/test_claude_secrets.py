"""The real Claude Code CLI in a polecat pod, against a scripted Messages API, and a search
for its credentials everywhere they must never appear."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client

from gastown.api.identity import polecat_workflow_id
from gastown.api.polecat import PolecatPhase
from gastown.kube import PODS, SECRETS, reading
from gastown.workflows import contract as c
from gastown.workflows.messages import NukeRequest, PolecatState
from tests.e2e.conftest import ClusterKube, Result, wait_until
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
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    # The claude-code agent's CLI is `agentConfig.command` (GT_CLAUDE_BIN is the runtime's,
    # refused in user env).
    return {
        "agentConfig": {
            "command": [str(CLAUDE_BIN)],
            "env": [{"name": k, "value": v} for k, v in env.items()],
        }
    }


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


def assert_no_leak(places: dict[str, str], canaries: Iterable[str]) -> None:
    """None of the canaries anywhere; every place searched holds something (an empty one
    would prove nothing)."""
    for where, text in places.items():
        assert text, f"{where} is empty: the search would prove nothing"
        for canary in canaries:
            assert canary not in text, f"a credential leaked into {where}"


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
    assert_no_leak(places, CANARIES)


async def test_oauth_session_run_gives_the_pod_only_an_access_token(
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
    """A fresh session: the pod mounts the polecat's own Secret (one access token, no refresh
    token), Claude uses it, and the Secret is gone when the polecat ends."""
    caplog.set_level(logging.DEBUG)
    secret(core, namespace, "claude-creds", {".credentials.json": oauth_file(8 * 3600)})
    rig = rig_factory(claudeCredsSecretRef={"name": "claude-creds"}, **claude_defaults(fake_api))
    result = await gt("sling", "dm-0001", rig, "--name", "capable", "--wait", "--timeout", "180")
    assert result.code == 0, result.err
    polecat = await kube.get_polecat(namespace, "capable")
    assert (polecat["status"]["phase"], polecat["status"]["outcome"]) == ("Done", "completed")
    main = fake_api.main_requests()
    assert main, "claude never called the Messages API"
    assert all(r.headers.get("authorization") == f"Bearer {ACCESS_TOKEN}" for r in main)

    pod = await kube.run(reading.get(PODS, "polecat-capable-1", namespace))
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "claude-creds"]
    assert volume["secret"]["secretName"] == "polecat-capable-auth"
    # Revoked at the end: the workflow deletes it before it completes (`sling --wait` returns
    # when the CR says Done, a moment earlier).
    handle = temporal_client.get_workflow_handle(polecat_workflow_id(namespace, "capable"))
    await asyncio.wait_for(handle.result(), 60)
    assert await kube.run(reading.get_or_none(SECRETS, "polecat-capable-auth", namespace)) is None

    events = [e async for e in handle.fetch_history_events()]
    desc = await handle.describe()
    places = {
        "history": decoded_history(events),
        "memo": json.dumps(await desc.memo()),
        "polecat CR": json.dumps(polecat),
        "events": kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
        "pod": json.dumps(pod),
        "logs claude": (await gt("polecat", "logs", f"{rig}/capable")).out,
        "cli output": result.out + result.err,
        "worker logs": caplog.text,
    }
    assert_no_leak(places, CANARIES)


async def test_expired_oauth_token_parks_the_polecat_before_any_pod(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    core: client.CoreV1Api,
    kube: ClusterKube,
    temporal_client: Client,
    kubectl: Callable[..., Any],
) -> None:
    """An expired replica session no longer fails the polecat: it waits, saying why and what
    to do, where the user looks (`kubectl get polecats`, its Events), with no pod; a nuke
    ends it at once and its own token Secret never existed."""
    secret(core, namespace, "claude-creds", {".credentials.json": oauth_file(-60)})
    rig = rig_factory(claudeCredsSecretRef={"name": "claude-creds"})
    result = await gt("sling", "dm-0001", rig, "--name", "nux")
    assert result.code == 0, result.err

    async def parked() -> dict[str, Any] | None:
        status = (await kube.get_polecat(namespace, "nux")).get("status") or {}
        return status if status.get("phase") == "WaitingForCredentials" else None

    status = await wait_until(parked, 60, "the polecat to wait for credentials")
    assert "kubectl gt auth sync --force" in status["message"]
    assert "expired" in status["message"]
    [ready] = [x for x in status["conditions"] if x["type"] == "Ready"]
    assert (ready["status"], ready["reason"]) == ("Unknown", "CredentialsExpired")
    assert "podName" not in status

    def warning() -> list[dict[str, Any]]:
        events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
        return [
            e
            for e in events["items"]
            if e["involvedObject"].get("name") == "nux"
            and (e["type"], e["reason"]) == ("Warning", "CredentialsExpired")
        ]

    async def warned() -> list[dict[str, Any]]:
        return warning()

    [event] = await wait_until(warned, 30, "the Warning Event")
    assert "kubectl gt auth sync --force" in event["message"]
    pods = await kube.run(reading.items(PODS, namespace))
    assert pods == []
    assert await kube.run(reading.get_or_none(SECRETS, "polecat-nux-auth", namespace)) is None
    texts = (json.dumps(status), json.dumps(event), result.out + result.err)
    for text in texts:
        for canary in CANARIES:
            assert canary not in text

    handle = temporal_client.get_workflow_handle(polecat_workflow_id(namespace, "nux"))
    state = await asyncio.wait_for(
        handle.execute_update(
            c.UPDATE_NUKE, NukeRequest(reason="test over"), result_type=PolecatState
        ),
        30,
    )
    assert state.phase == PolecatPhase.TERMINATED
    assert (await kube.get_polecat(namespace, "nux"))["status"]["phase"] == "Terminated"
    assert await kube.run(reading.items(PODS, namespace)) == []
