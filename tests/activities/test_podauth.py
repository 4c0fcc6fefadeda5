"""issue_pod_token, revoke_pod_token, ask_credentials (and check_credentials) against real
servers: the sandbox API server (Secrets, ownerReferences, resourceVersions) and the Temporal
dev server (the signal-with-start of the credentials Secret's workflow)."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from gastown.activities.credentials import CredentialActivities
from gastown.activities.podauth import PodAuthActivities, ask_credentials
from gastown.api import auth
from gastown.api import identity as ids
from gastown.kube import NO_RETRY, POLECATS, SECRETS, Kube, from_kubeconfig, reading, writing
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    CredentialReport,
    CredentialsAsk,
    CredentialsInput,
    CredentialsWanted,
    PolecatRef,
    Resolved,
    TokenGrant,
    TokenGrantKind,
    TokenRequest,
)
from tests.conftest import Cluster, TemporalDev

ACCESS = "sk-ant-oat01-PODAUTHACCESS-0123456789abcdef"
REFRESH = "sk-ant-ort01-PODAUTHREFRESH-0123456789abcdef"
LONG_LIVED = "sk-ant-oat01-PODAUTHLONGLIVED-0123456789abcdef"
TOKENS = (ACCESS, REFRESH, LONG_LIVED)
HOUR = 3600
SECRET_NAME = "claude-creds"


@pytest.fixture(scope="module")
def kube(cluster: Cluster) -> Kube:
    return from_kubeconfig(str(cluster.kubeconfig), NO_RETRY)


@pytest.fixture
def polecat(kube: Kube, namespace: str) -> PolecatRef:
    body = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": "nux"},
        "spec": {"rig": "demo-rig", "beadID": "dm-0001", "desiredState": "Working"},
    }
    obj = kube.run_sync(writing.create(POLECATS, body, namespace))
    return PolecatRef(namespace=namespace, name="nux", uid=obj["metadata"]["uid"])


def session(expires_in: float) -> str:
    return json.dumps(
        {
            "claudeAiOauth": {
                "accessToken": ACCESS,
                "refreshToken": REFRESH,
                "expiresAt": int((time.time() + expires_in) * 1000),
                "scopes": ["user:inference"],
            }
        }
    )


@pytest.fixture
def creds(kube: Kube, namespace: str) -> Callable[..., str]:
    """Write the user's credentials Secret `claude-creds`; its resourceVersion."""

    def write(
        data: dict[str, str],
        mode: str | None = None,
        expires_at: str | None = None,
        refreshed_at: str | None = None,
    ) -> str:
        notes = {auth.ANNOTATION_MODE: mode} if mode else {}
        if expires_at:
            notes[auth.ANNOTATION_EXPIRES_AT] = expires_at
        if refreshed_at:
            notes[auth.ANNOTATION_REFRESHED_AT] = refreshed_at
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "claude-creds",
                "labels": {auth.LABEL_CREDENTIALS: "true"},
                "annotations": notes,
            },
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        done = kube.run_sync(writing.create_or_replace(SECRETS, body, namespace))
        return str(done["metadata"]["resourceVersion"])

    return write


def request(
    polecat: PolecatRef, valid_for: int = HOUR, rejected: str | None = None, **fields: Any
) -> TokenRequest:
    base: dict[str, Any] = {
        "namespace": polecat.namespace,
        "name": polecat.name,
        "uid": polecat.uid,
        "rig": "demo-rig",
        "bead_id": "dm-0001",
        "repo_url": "git@github.com:org/repo.git",
        "base_branch": "main",
        "work_branch": "feature/dm-0001",
        "image": "example.org/polecat:1",
        "agent": "claude-code",
        "claude_creds_secret": "claude-creds",
        "active_deadline_seconds": 900,
        "pending_timeout_seconds": 300,
        "image_pull_grace_seconds": 60,
        "max_attempts": 2,
        "backoff_seconds": 10,
        "succeeded_pod_ttl_seconds": 60,
        "failed_pod_ttl_seconds": 60,
    }
    return TokenRequest(
        resolved=Resolved(**{**base, **fields}),
        polecat=polecat,
        valid_for_seconds=valid_for,
        rejected_version=rejected,
    )


async def issue(kube: Kube, req: TokenRequest) -> TokenGrant:
    grant: TokenGrant = await ActivityEnvironment().run(
        PodAuthActivities(kube).issue_pod_token, req
    )
    assert not any(token in grant.model_dump_json() for token in TOKENS)
    return grant


def pod_secret(kube: Kube, polecat: PolecatRef) -> dict[str, Any] | None:
    name = ids.pod_auth_secret_name(polecat.name)
    found: dict[str, Any] | None = kube.run_sync(
        reading.get_or_none(SECRETS, name, polecat.namespace)
    )
    return found


def files(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def test_fresh_session_gives_the_pod_an_access_token_and_no_refresh_token(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    version = creds({".credentials.json": session(8 * HOUR)})
    grant = await issue(kube, request(polecat))

    assert (grant.kind, grant.secret, grant.version) == (
        TokenGrantKind.READY,
        "claude-creds",
        version,
    )
    assert grant.credential_kind == auth.CredentialKind.SESSION.value
    assert grant.expires_at is not None
    secret = pod_secret(kube, polecat)
    assert secret is not None
    data = files(secret)
    assert list(data) == [auth.POD_SESSION_KEY]
    doc = json.loads(data[auth.POD_SESSION_KEY])
    assert doc["claudeAiOauth"]["accessToken"] == ACCESS
    assert "refreshToken" not in doc["claudeAiOauth"]
    assert REFRESH not in json.dumps(secret)
    assert doc["claudeAiOauth"]["scopes"] == ["user:inference"]  # the rest of the document kept
    meta = secret["metadata"]
    [owner] = meta["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Polecat",
        "nux",
        polecat.uid,
        True,
    )
    assert meta["labels"][ids.LABEL_POLECAT] == "nux"
    assert meta["labels"][ids.LABEL_MANAGED_BY] == ids.MANAGED_BY

    # Issued again (the next pod) after the user's Secret changed: replaced, not doubled.
    creds({".credentials.json": session(9 * HOUR).replace(ACCESS, ACCESS + "2")})
    again = await issue(kube, request(polecat))
    assert again.kind == TokenGrantKind.READY and again.version != version
    renewed = files(pod_secret(kube, polecat) or {})
    assert json.loads(renewed[auth.POD_SESSION_KEY])["claudeAiOauth"]["accessToken"] == (
        ACCESS + "2"
    )

    # revoke_pod_token deletes it; a second revoke finds nothing (done).
    revoke = PodAuthActivities(kube).revoke_pod_token
    assert await ActivityEnvironment().run(revoke, polecat) is True
    assert pod_secret(kube, polecat) is None
    assert await ActivityEnvironment().run(revoke, polecat) is False


async def test_expired_replica_parks_with_the_hint_and_writes_nothing(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    version = creds({".credentials.json": session(-60)})
    grant = await issue(kube, request(polecat))

    assert (grant.kind, grant.reason, grant.version) == (
        TokenGrantKind.PARK,
        c.CREDENTIALS_EXPIRED,
        version,
    )
    assert "expired at" in grant.message and "kubectl gt auth sync --force" in grant.message
    assert "'claude-creds'" in grant.message
    assert pod_secret(kube, polecat) is None


async def test_replica_valid_but_not_for_the_pods_deadline_parks(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    creds({".credentials.json": session(HOUR)})
    grant = await issue(kube, request(polecat, valid_for=2 * HOUR))
    assert (grant.kind, grant.reason) == (TokenGrantKind.PARK, c.CREDENTIALS_EXPIRED)
    assert "before the pod's deadline" in grant.message
    assert pod_secret(kube, polecat) is None


async def test_keeper_near_expiry_asks_for_a_refresh(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    version = creds({".credentials.json": session(600)}, mode="keeper")
    grant = await issue(kube, request(polecat))
    assert (grant.kind, grant.version, grant.reason) == (TokenGrantKind.REFRESH, version, "")
    assert pod_secret(kube, polecat) is None

    # Expired altogether: the keeper can still refresh it (the refresh token is what counts).
    creds({".credentials.json": session(-600)}, mode="keeper")
    assert (await issue(kube, request(polecat))).kind == TokenGrantKind.REFRESH


async def test_a_keeper_session_refreshed_moments_ago_is_ready_even_if_short(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    """The pod needs more than the token endpoint issues (a long deadline, or an endpoint
    without expires_in): the session the keeper just refreshed is handed out, instead of
    asking for a refresh after every refresh."""

    def ago(minutes: float) -> str:
        return auth.format_time(datetime.now(UTC) - timedelta(minutes=minutes))

    short = {".credentials.json": session(HOUR)}  # the pod needs 8 hours
    version = creds(short, mode="keeper", refreshed_at=ago(1))
    grant = await issue(kube, request(polecat, valid_for=8 * HOUR))
    assert (grant.kind, grant.version) == (TokenGrantKind.READY, version)
    written = pod_secret(kube, polecat)
    assert written is not None and ACCESS in files(written)[".credentials.json"]

    # Refreshed a while ago: the keeper is asked (a refresh may have come since).
    creds(short, mode="keeper", refreshed_at=ago(10))
    assert (await issue(kube, request(polecat, valid_for=8 * HOUR))).kind == TokenGrantKind.REFRESH
    # Just refreshed, but the version a pod found refused, or already expired: never READY.
    rejected = creds(short, mode="keeper", refreshed_at=ago(1))
    refused = await issue(kube, request(polecat, valid_for=8 * HOUR, rejected=rejected))
    assert refused.kind == TokenGrantKind.REFRESH
    creds({".credentials.json": session(-60)}, mode="keeper", refreshed_at=ago(1))
    assert (await issue(kube, request(polecat, valid_for=8 * HOUR))).kind == TokenGrantKind.REFRESH
    # A replica's session is the laptop's: a recent refresh changes nothing.
    creds(short, refreshed_at=ago(1))
    assert (await issue(kube, request(polecat, valid_for=8 * HOUR))).kind == TokenGrantKind.PARK


async def test_the_rejected_version_is_never_ready_again(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    version = creds({".credentials.json": session(8 * HOUR)})
    replica = await issue(kube, request(polecat, rejected=version))
    assert (replica.kind, replica.reason) == (TokenGrantKind.PARK, c.CREDENTIALS_EXPIRED)
    assert "refused" in replica.message

    keeper_version = creds({".credentials.json": session(8 * HOUR)}, mode="keeper")
    keeper = await issue(kube, request(polecat, rejected=keeper_version))
    assert keeper.kind == TokenGrantKind.REFRESH
    # Any other version is judged on its own.
    fresh = await issue(kube, request(polecat, rejected=version))
    assert fresh.kind == TokenGrantKind.READY


async def test_long_lived_token(kube: Kube, polecat: PolecatRef, creds: Callable[..., str]) -> None:
    creds({auth.TOKEN_KEY: LONG_LIVED + "\n"})
    grant = await issue(kube, request(polecat))
    assert (grant.kind, grant.credential_kind, grant.expires_at) == (
        TokenGrantKind.READY,
        auth.CredentialKind.LONG_LIVED_TOKEN.value,
        None,
    )
    assert files(pod_secret(kube, polecat) or {}) == {auth.POD_TOKEN_KEY: LONG_LIVED}

    # Its known expiry too soon for the pod: parked, with what to do.
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    creds({auth.TOKEN_KEY: LONG_LIVED}, expires_at=soon)
    parked = await issue(kube, request(polecat))
    assert (parked.kind, parked.reason) == (TokenGrantKind.PARK, c.CREDENTIALS_EXPIRED)
    assert "claude setup-token" in parked.message


async def test_api_key_or_no_claude_secret_needs_nothing(kube: Kube, polecat: PolecatRef) -> None:
    grant = await issue(kube, request(polecat, claude_creds_secret=None))
    assert grant == TokenGrant(kind=TokenGrantKind.READY)
    assert pod_secret(kube, polecat) is None


async def test_a_missing_or_empty_secret_parks_naming_it(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    gone = await issue(kube, request(polecat))
    assert (gone.kind, gone.reason) == (TokenGrantKind.PARK, c.MISSING_SECRET)
    assert "'claude-creds'" in gone.message
    creds({"unrelated": "x"})
    empty = await issue(kube, request(polecat))
    assert (empty.kind, empty.reason) == (TokenGrantKind.PARK, c.MISSING_SECRET)


async def test_ask_credentials_signal_with_starts_the_secrets_workflow(
    temporal: TemporalDev,
) -> None:
    client = await Client.connect(
        temporal.address, namespace=temporal.namespace, data_converter=pydantic_data_converter
    )
    env = ActivityEnvironment(client=client)
    queue = f"podauth-{uuid.uuid4()}"
    env.info = dataclasses.replace(env.info, task_queue=queue)
    namespace = f"ns-{secrets.token_hex(3)}"
    first = CredentialsWanted(workflow_id="polecat/x/a", seen_version="7")
    second = CredentialsWanted(workflow_id="polecat/x/b", refresh=True, seen_version="7")
    await env.run(
        ask_credentials, CredentialsAsk(namespace=namespace, secret=SECRET_NAME, wanted=first)
    )
    await env.run(
        ask_credentials, CredentialsAsk(namespace=namespace, secret=SECRET_NAME, wanted=second)
    )

    handle = client.get_workflow_handle(ids.credentials_workflow_id(namespace, SECRET_NAME))
    try:
        events = [e async for e in handle.fetch_history_events()]
        [started] = [
            e.workflow_execution_started_event_attributes
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        ]
        assert started.workflow_type.name == c.CREDENTIALS_WORKFLOW
        assert started.task_queue.name == queue
        [arg] = pydantic_data_converter.payload_converter.from_payloads(
            started.input.payloads, [CredentialsInput]
        )
        assert arg == CredentialsInput(namespace=namespace, secret=SECRET_NAME)
        signals = [
            e.workflow_execution_signaled_event_attributes
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        assert [s.signal_name for s in signals] == [c.SIGNAL_CREDENTIALS_WANTED] * 2
        wanted = [
            pydantic_data_converter.payload_converter.from_payloads(
                s.input.payloads, [CredentialsWanted]
            )[0]
            for s in signals
        ]
        assert wanted == [first, second]
    finally:
        await handle.terminate("test over")


# ---------------------------------------------------------------- check_credentials
async def check(kube: Kube, req: TokenRequest) -> CredentialReport:
    report: CredentialReport = await ActivityEnvironment().run(
        CredentialActivities(kube).check_credentials, req.resolved
    )
    return report


async def test_check_credentials_leaves_an_expired_session_to_the_gate(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    creds({".credentials.json": session(-60)})
    report = await check(kube, request(polecat))
    assert report.kind == "oauth"
    assert report.expires_at is not None and report.expires_at.timestamp() < time.time()


async def test_check_credentials_accepts_a_long_lived_token(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    creds({auth.TOKEN_KEY: LONG_LIVED})
    assert (await check(kube, request(polecat))).kind == "oauth-token"


async def test_check_credentials_still_refuses_a_missing_secret_or_key(
    kube: Kube, polecat: PolecatRef, creds: Callable[..., str]
) -> None:
    for setup in (None, {"unrelated": "x"}):
        if setup is not None:
            creds(setup)
        with pytest.raises(ApplicationError) as info:
            await check(kube, request(polecat))
        assert (info.value.type, info.value.non_retryable) == (c.MISSING_SECRET, True)
        assert "'claude-creds'" in info.value.message
        assert "kubectl gt auth sync --force" in info.value.message


def test_the_worker_registers_the_polecats_credentials_activities(kube: Kube) -> None:
    from temporalio.activity import _Definition

    from gastown.activities import build_activities
    from gastown.workflows.resolve import OperatorDefaults

    defaults = OperatorDefaults(image="example.org/polecat:1", active_deadline_seconds=900)
    names = {_Definition.must_from_callable(fn).name for fn in build_activities(kube, defaults)}
    assert {c.ISSUE_POD_TOKEN, c.ASK_CREDENTIALS, c.REVOKE_POD_TOKEN} <= names
