"""refresh_session and secret_version against the sandbox API server (real resourceVersions,
real 409s) and the fake token endpoint of tests/oauth.py (real HTTP, rotating refresh tokens).

What is proved: a keeper-mode session is refreshed and the ROTATED refresh token stored (with
refreshed-at/expires-at) before the activity returns; replica mode and a fresh session cost no
request; a refused version forces one; a concurrent write that keeps our token is written over
again, a concurrent handover is kept; a keeper that stored and then died loses nothing; a
refused session is a permanent RefreshRejected naming the next step; a store that fails after
the POST is a permanent SessionLost (one POST, never a retry with the spent token); no token in
any result or error.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from gastown.activities.keeper import KeeperActivities
from gastown.activities.oauth import OAuthConfig
from gastown.api import auth
from gastown.kube import NO_RETRY, SECRETS, Kube, from_kubeconfig, patching, reading, writing
from gastown.sandbox.cluster import Sandbox
from gastown.telemetry.logs import JsonFormatter, TextFormatter
from gastown.workflows import contract as c
from gastown.workflows.messages import CredentialsRef, RefreshRequest, RefreshResult
from tests.conftest import Cluster
from tests.oauth import CLIENT_ID, TokenEndpoint, token_endpoint

SECRET = "claude-creds"
SEED = "seed-refresh-token-0000"
SEED_ACCESS = "seed-access-token-0000"


@pytest.fixture(scope="module")
def kube(cluster: Cluster) -> Kube:
    return from_kubeconfig(str(cluster.kubeconfig), NO_RETRY)


def document(expires_at: datetime, refresh: str = SEED, access: str = SEED_ACCESS) -> str:
    return json.dumps(
        {
            "claudeAiOauth": {
                "accessToken": access,
                "refreshToken": refresh,
                "expiresAt": int(expires_at.timestamp() * 1000),
                "scopes": ["user:inference"],
                "subscriptionType": "max",
            }
        }
    )


def make_secret(
    kube: Kube,
    namespace: str,
    expires_in: timedelta,
    *,
    mode: str | None = "keeper",
    refresh: str = SEED,
    access: str = SEED_ACCESS,
) -> dict[str, Any]:
    notes = {auth.ANNOTATION_MODE: mode} if mode else {}
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET,
            "labels": {auth.LABEL_CREDENTIALS: "true"},
            "annotations": {**notes, auth.ANNOTATION_SYNCED_AT: "2026-01-01T00:00:00Z"},
        },
        "data": {
            auth.SESSION_KEY: b64(document(datetime.now(UTC) + expires_in, refresh, access)),
            "other": b64("kept"),
        },
    }
    return kube.run_sync(writing.create(SECRETS, body, namespace))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def read(kube: Kube, namespace: str) -> tuple[dict[str, Any], auth.Session]:
    secret = kube.run_sync(reading.get(SECRETS, SECRET, namespace))
    session = auth.parse_session(base64.b64decode(secret["data"][auth.SESSION_KEY]))
    assert session is not None
    return secret, session


def keeper(kube: Kube, endpoint: TokenEndpoint, store_seconds: float = 60.0) -> KeeperActivities:
    config = OAuthConfig(token_url=endpoint.url, client_id=CLIENT_ID)
    return KeeperActivities(kube, config, store_seconds=store_seconds)


def request(namespace: str, valid_for: timedelta, rejected: str | None = None) -> RefreshRequest:
    return RefreshRequest(
        namespace=namespace,
        secret=SECRET,
        valid_until=datetime.now(UTC) + valid_for,
        rejected_version=rejected,
    )


async def refresh(k: KeeperActivities, req: RefreshRequest) -> RefreshResult:
    result: RefreshResult = await ActivityEnvironment().run(k.refresh_session, req)
    assert "fake-" not in result.model_dump_json() and "seed-" not in result.model_dump_json()
    return result


async def test_keeper_refreshes_and_stores_the_rotated_session_before_returning(
    kube: Kube, namespace: str
) -> None:
    make_secret(kube, namespace, timedelta(minutes=5))
    with token_endpoint(expires_in=28800) as endpoint:
        endpoint.seed(SEED)
        before = datetime.now(UTC)
        result = await refresh(keeper(kube, endpoint), request(namespace, timedelta(hours=1)))
        assert endpoint.refreshes() == 1
        assert endpoint.requests[0]["refresh_token"] == SEED
    secret, session = read(kube, namespace)
    assert (session.access_token, session.refresh_token) == (
        "fake-access-0001",
        "fake-refresh-0001",
    )
    assert session.expires_at is not None
    assert before + timedelta(hours=8) - timedelta(seconds=5) <= session.expires_at
    assert session.expires_at <= datetime.now(UTC) + timedelta(hours=8)
    assert session.doc["claudeAiOauth"]["subscriptionType"] == "max"  # the rest is kept
    assert base64.b64decode(secret["data"]["other"]) == b"kept"
    notes = secret["metadata"]["annotations"]
    assert auth.parse_time(notes[auth.ANNOTATION_REFRESHED_AT]) is not None
    assert notes[auth.ANNOTATION_EXPIRES_AT] == auth.format_time(session.expires_at)
    assert notes[auth.ANNOTATION_MODE] == "keeper"
    assert secret["metadata"]["labels"] == {auth.LABEL_CREDENTIALS: "true"}
    assert result == RefreshResult(
        refreshed=True,
        version=secret["metadata"]["resourceVersion"],
        mode="keeper",
        expires_at=session.expires_at,
    )


async def test_replica_mode_never_refreshes_even_when_expired(kube: Kube, namespace: str) -> None:
    created = make_secret(kube, namespace, timedelta(minutes=-5), mode=None)
    with token_endpoint() as endpoint:
        endpoint.seed(SEED)
        result = await refresh(keeper(kube, endpoint), request(namespace, timedelta(hours=1)))
        assert endpoint.requests == []
    assert (result.refreshed, result.mode) == (False, "replica")
    secret, session = read(kube, namespace)
    assert secret["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert session.refresh_token == SEED


async def test_a_session_fresh_enough_costs_no_request(kube: Kube, namespace: str) -> None:
    created = make_secret(kube, namespace, timedelta(hours=8))
    with token_endpoint() as endpoint:
        endpoint.seed(SEED)
        result = await refresh(keeper(kube, endpoint), request(namespace, timedelta(hours=1)))
        # A version other than the current one refused: nothing to do either.
        older = await refresh(keeper(kube, endpoint), request(namespace, timedelta(hours=1), "1"))
        assert endpoint.requests == []
    version = created["metadata"]["resourceVersion"]
    assert result == older
    assert (result.refreshed, result.version, result.mode) == (False, version, "keeper")


async def test_the_version_a_pod_found_refused_forces_a_refresh(kube: Kube, namespace: str) -> None:
    created = make_secret(kube, namespace, timedelta(hours=8))
    with token_endpoint() as endpoint:
        endpoint.seed(SEED)
        version = created["metadata"]["resourceVersion"]
        result = await refresh(
            keeper(kube, endpoint), request(namespace, timedelta(hours=1), version)
        )
        assert endpoint.refreshes() == 1
    assert result.refreshed and result.version != version
    assert read(kube, namespace)[1].refresh_token == "fake-refresh-0001"


async def test_a_retry_after_the_store_does_not_refresh_again(kube: Kube, namespace: str) -> None:
    make_secret(kube, namespace, timedelta(minutes=5))
    with token_endpoint() as endpoint:
        endpoint.seed(SEED)
        req = request(namespace, timedelta(hours=1))
        first = await refresh(keeper(kube, endpoint), req)
        again = await refresh(keeper(kube, endpoint), req)  # the same request, retried
        assert endpoint.refreshes() == 1
    assert first.refreshed and not again.refreshed
    assert again.version == first.version


async def test_a_keeper_killed_after_storing_loses_nothing(kube: Kube, namespace: str) -> None:
    """Stored, then the result dropped (the keeper died before using it): the next refresh
    reads the stored rotated token, and the endpoint, which has retired the seed, accepts it."""
    make_secret(kube, namespace, timedelta(minutes=5))
    with token_endpoint() as endpoint:
        endpoint.seed(SEED)
        await refresh(keeper(kube, endpoint), request(namespace, timedelta(hours=1)))
        stored, _ = read(kube, namespace)
        version = stored["metadata"]["resourceVersion"]
        # A new keeper (nothing in memory) is told the stored version's token was refused.
        result = await refresh(
            keeper(kube, endpoint), request(namespace, timedelta(hours=1), version)
        )
        assert [r["refresh_token"] for r in endpoint.requests] == [SEED, "fake-refresh-0001"]
    assert result.refreshed
    assert read(kube, namespace)[1].refresh_token == "fake-refresh-0002"


async def test_a_concurrent_annotation_write_is_written_over_on_the_new_version(
    kube: Kube, namespace: str
) -> None:
    make_secret(kube, namespace, timedelta(minutes=5))

    def annotate(_: str) -> None:  # while the endpoint answers: `auth sync` notes something
        kube.run_sync(
            patching.merge(
                SECRETS, SECRET, {"metadata": {"annotations": {"example.org/x": "1"}}}, namespace
            )
        )

    with token_endpoint(on_refresh=annotate) as endpoint:
        endpoint.seed(SEED)
        result = await refresh(keeper(kube, endpoint), request(namespace, timedelta(hours=1)))
        assert endpoint.refreshes() == 1
    secret, session = read(kube, namespace)
    assert result.refreshed and result.version == secret["metadata"]["resourceVersion"]
    assert session.refresh_token == "fake-refresh-0001"
    assert secret["metadata"]["annotations"]["example.org/x"] == "1"  # theirs kept too


async def test_a_concurrent_handover_is_kept(kube: Kube, namespace: str) -> None:
    make_secret(kube, namespace, timedelta(minutes=5))
    handed = datetime.now(UTC) + timedelta(hours=6)

    def handover(_: str) -> None:  # while the endpoint answers: `auth sync --handover`
        kube.run_sync(
            patching.merge(
                SECRETS,
                SECRET,
                {"data": {auth.SESSION_KEY: b64(document(handed, "handover-rt", "handover-at"))}},
                namespace,
            )
        )

    with token_endpoint(on_refresh=handover) as endpoint:
        endpoint.seed(SEED)
        result = await ActivityEnvironment().run(
            keeper(kube, endpoint).refresh_session, request(namespace, timedelta(hours=1))
        )
    secret, session = read(kube, namespace)
    assert (session.access_token, session.refresh_token) == ("handover-at", "handover-rt")
    assert not result.refreshed
    assert result.version == secret["metadata"]["resourceVersion"]
    assert result.expires_at == session.expires_at


async def test_a_refused_session_is_a_permanent_rejection_with_the_next_step(
    kube: Kube, namespace: str
) -> None:
    created = make_secret(kube, namespace, timedelta(minutes=-1))
    with token_endpoint(reject_all=True) as endpoint:
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(
                keeper(kube, endpoint).refresh_session, request(namespace, timedelta(hours=1))
            )
        assert endpoint.refreshes() == 1
    err = info.value
    assert (err.type, err.non_retryable) == (c.REFRESH_REJECTED, True)
    assert list(err.details) == [created["metadata"]["resourceVersion"]]
    assert "kubectl gt auth sync --handover" in err.message
    assert "claude setup-token" in err.message
    assert SEED not in str(err) and "seed-" not in repr(err)
    # The Secret is untouched: only a new handover can help.
    assert (
        read(kube, namespace)[0]["metadata"]["resourceVersion"]
        == (created["metadata"]["resourceVersion"])
    )


async def test_an_unreachable_endpoint_is_retryable_and_changes_nothing(
    kube: Kube, namespace: str
) -> None:
    created = make_secret(kube, namespace, timedelta(minutes=1))
    with token_endpoint(fail_next=1) as endpoint:
        endpoint.seed(SEED)
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(
                keeper(kube, endpoint).refresh_session, request(namespace, timedelta(hours=1))
            )
        assert not info.value.non_retryable and "answered 500" in info.value.message
        assert (
            read(kube, namespace)[0]["metadata"]["resourceVersion"]
            == (created["metadata"]["resourceVersion"])
        )
        # Temporal's retry: the seed still works.
        result = await refresh(keeper(kube, endpoint), request(namespace, timedelta(hours=1)))
        assert result.refreshed


async def test_a_missing_secret_is_permanent(kube: Kube, namespace: str) -> None:
    with token_endpoint() as endpoint, pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(
            keeper(kube, endpoint).refresh_session, request(namespace, timedelta(hours=1))
        )
    assert (info.value.type, info.value.non_retryable) == (c.MISSING_SECRET, True)
    assert f"{SECRET!r}" in info.value.message and namespace in info.value.message


async def test_secret_version_says_version_mode_and_expiry_never_data(
    kube: Kube, namespace: str
) -> None:
    with token_endpoint() as endpoint:
        k = keeper(kube, endpoint)
        ref = CredentialsRef(namespace=namespace, secret=SECRET)
        missing = await ActivityEnvironment().run(k.secret_version, ref)
        assert missing.version is None
        created = make_secret(kube, namespace, timedelta(hours=2))
        look = await ActivityEnvironment().run(k.secret_version, ref)
    assert look.version == created["metadata"]["resourceVersion"]
    assert look.mode == "keeper" and look.refresh_margin_seconds == 600
    assert look.expires_at is not None
    assert abs(look.expires_at - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    assert "seed-" not in look.model_dump_json()


@pytest.mark.parametrize(("code", "why"), [(500, "the API server unavailable"), (409, "conflicts")])
async def test_a_store_that_fails_after_the_post_is_permanent_and_never_posts_again(
    kube: Kube, namespace: str, sandbox: Sandbox, code: int, why: str
) -> None:
    """The POST succeeded (the seed is spent) and every replace of the Secret fails: the
    activity gives up within its store budget with a permanent SessionLost naming the Secret,
    the kind of failure and the handover, never a token; Temporal does not retry it, so the
    spent refresh token is never POSTed again."""
    created = make_secret(kube, namespace, timedelta(minutes=-1))
    sandbox.faults.fail("update", "secrets", code=code, namespace=namespace)
    with token_endpoint() as endpoint:
        endpoint.seed(SEED)
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(
                keeper(kube, endpoint, store_seconds=0.5).refresh_session,
                request(namespace, timedelta(hours=1)),
            )
        assert endpoint.refreshes() == 1
    err = info.value
    assert (err.type, err.non_retryable) == (c.SESSION_LOST, True)
    assert err.type in (c.REFRESH_RETRY.non_retryable_error_types or [])
    assert list(err.details) == [created["metadata"]["resourceVersion"]]
    assert f"Secret {namespace}/{SECRET}" in err.message and f"({why})" in err.message
    assert "kubectl gt auth sync --handover" in err.message
    assert err.cause is None and err.__cause__ is None
    assert "injected" not in err.message  # the API server's own text is never repeated
    text = f"{err} {err!r} {err.details!r}"
    assert "fake-" not in text and "seed-" not in text


async def test_tokens_the_keeper_read_never_reach_the_log_output(
    kube: Kube, namespace: str
) -> None:
    """The keeper's error path (a refused refresh), then an exception quoting the tokens, as a
    library's might: the worker's formatters print *** where they were. Unregistered tokens of
    well-known shapes are scrubbed too."""
    unique = secrets.token_hex(8)
    refresh_token, access_token = f"uniq-refresh-{unique}", f"uniq-access-{unique}"
    make_secret(kube, namespace, timedelta(minutes=-1), refresh=refresh_token, access=access_token)
    with token_endpoint(reject_all=True) as endpoint, pytest.raises(ApplicationError):
        await ActivityEnvironment().run(
            keeper(kube, endpoint).refresh_session, request(namespace, timedelta(hours=1))
        )
    shaped = (
        f"sk-ant-oat01-{unique}",
        f"Bearer bearer{unique}",
        f'{{"access_token": "json{unique}"}}',
        f'{{"claudeAiOauth": {{"refreshToken": "claude{unique}"}}}}',
    )
    stream = io.StringIO()
    log = logging.getLogger("test.keeper.redaction")
    log.propagate = False
    for formatter in (JsonFormatter(), TextFormatter()):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        log.addHandler(handler)
    try:
        raise RuntimeError(f"upstream said {refresh_token} and {access_token}")
    except RuntimeError:
        log.exception("refresh failed for %s; %s", refresh_token, " ".join(shaped))
    finally:
        log.handlers.clear()
    out = stream.getvalue()
    assert out.count("refresh failed") == 2  # both formatters wrote the line
    assert refresh_token not in out and access_token not in out
    assert unique not in out
    assert "***" in out
