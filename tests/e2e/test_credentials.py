"""Credentials end to end, the acceptance of the credentials issue: the sandbox cluster, the
Temporal dev server, our worker and watcher, real pods, real git, the real `kubectl gt`, and a
local OAuth token endpoint that rotates refresh tokens as Anthropic's does.

- keeper mode: fifty polecats started at once near expiry make exactly one refresh; every
  pod sees the new access token and no refresh token; the rotated refresh token is stored;
- replica mode: an expired session parks a ten-bead convoy (each polecat says why, nothing
  fails); `auth sync --force` with a fresh document resumes all ten to Done;
- a refresh refused with invalid_grant parks the polecat with the hint, it does not fail;
- and no token anywhere it must never be: histories, worker logs, Events, statuses, output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client
from temporalio.worker import Worker

from gastown.activities.oauth import OAuthConfig
from gastown.api.auth import ANNOTATION_MODE, LABEL_CREDENTIALS, SESSION_KEY
from gastown.api.identity import (
    LABEL_CONVOY,
    LABEL_POLECAT,
    convoy_workflow_id,
    credentials_workflow_id,
    polecat_workflow_id,
)
from gastown.kube import CONVOYS, reading
from gastown.service.worker import WorkerOptions, build_worker
from gastown.workflows import contract as c
from gastown.workflows.messages import ConvoyProgress, NukeRequest, PolecatState
from tests.e2e.conftest import TEST_DEFAULTS, ClusterKube, Result, apply_and_start, wait_until
from tests.e2e.test_claude_secrets import assert_no_leak, decoded_history
from tests.e2e.test_convoy import beads, start_convoy
from tests.oauth import CLIENT_ID, TokenEndpoint, token_endpoint
from tests.operator.conftest import (  # noqa: F401 - watcher_thread is a fixture
    ThreadedWatcher,
    apply,
    polecat_doc,
    watcher_thread,
)

ACCESS = "sk-ant-oat01-CANARYOLDACCESS-0123456789"
REFRESH = "sk-ant-ort01-CANARYOLDREFRESH-0123456789"
FRESH_ACCESS = "sk-ant-oat01-CANARYSYNCEDACCESS-0123456789"
FRESH_REFRESH = "sk-ant-ort01-CANARYSYNCEDREFRESH-0123456789"
HINT = "kubectl gt auth sync --force"

pytestmark = pytest.mark.timeout(600)


def session(access: str, refresh: str, expires_in: float) -> str:
    return json.dumps(
        {
            "claudeAiOauth": {
                "accessToken": access,
                "refreshToken": refresh,
                "expiresAt": int((time.time() + expires_in) * 1000),
                "scopes": ["user:inference"],
                "subscriptionType": "max",
            }
        }
    )


def credentials_secret(
    core: client.CoreV1Api, namespace: str, doc: str, mode: str = "replica"
) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="claude-creds",
                labels={LABEL_CREDENTIALS: "true"},
                annotations={ANNOTATION_MODE: mode},
            ),
            string_data={SESSION_KEY: doc},
        ),
    )


async def polecats_in(kube: ClusterKube, namespace: str, phase: str) -> list[dict[str, Any]]:
    return [
        p
        for p in await kube.list_polecats(namespace)
        if (p.get("status") or {}).get("phase") == phase
    ]


async def histories(temporal: Client, workflow_ids: Iterable[str]) -> str:
    texts = []
    for wid in workflow_ids:
        handle = temporal.get_workflow_handle(wid)
        texts.append(decoded_history([e async for e in handle.fetch_history_events()]))
    return "\n".join(texts)


async def convoy_places(
    temporal: Client, kube: ClusterKube, kubectl: Callable[..., Any], namespace: str, convoy: str
) -> dict[str, str]:
    """Where a convoy's run is recorded: every workflow's history (its polecats', its own, the
    credentials workflow's), the namespace's Events, the polecats' and the convoy's status."""
    polecats = await kube.list_polecats(namespace)
    ids = [polecat_workflow_id(namespace, p["metadata"]["name"]) for p in polecats]
    ids += [convoy_workflow_id(namespace, convoy)]
    ids += [credentials_workflow_id(namespace, "claude-creds")]
    return {
        "histories": await histories(temporal, ids),
        "events": kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
        "polecat statuses": json.dumps(polecats),
        "convoy status": json.dumps(await kube.run(reading.get(CONVOYS, convoy, namespace))),
    }


async def test_replica_expired_session_parks_a_convoy_and_a_sync_resumes_it(
    temporal_client: Client,
    worker: Worker,
    watcher_thread: ThreadedWatcher,  # noqa: F811 - the fixture imported above
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
    gt: Callable[..., Awaitable[Result]],
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    workdir: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    credentials_secret(core, namespace, session(ACCESS, REFRESH, -60))
    rig = rig_factory(claudeCredsSecretRef={"name": "claude-creds"})
    created = await gt("convoy", "create", "Replica", *beads(10), "--rig", rig, "--name", "cr",
                       "--parallelism", "10", "--agent", "command")  # fmt: skip
    assert created.code == 0, created.err
    handle = temporal_client.get_workflow_handle(
        convoy_workflow_id(namespace, "cr"), result_type=ConvoyProgress
    )

    parked = await wait_until(
        lambda: _all(polecats_in(kube, namespace, "WaitingForCredentials"), 10),
        180,
        "all ten polecats to park",
    )
    for polecat in parked:
        assert HINT in polecat["status"]["message"]
    listed = kubectl("get", "polecats", "-n", namespace).stdout
    assert listed.count("WaitingForCredentials") == 10, listed

    async def paused() -> dict[str, Any] | None:
        status = (await kube.run(reading.get(CONVOYS, "cr", namespace))).get("status") or {}
        return status if (status.get("counts") or {}).get("waiting") == 10 else None

    convoy = await wait_until(paused, 30, "the convoy's status to count ten waiting")
    assert convoy["reason"] == "WaitingForCredentials"
    assert HINT in convoy["message"]
    assert (convoy["phase"], convoy["counts"]["failed"]) == ("InProgress", 0)
    assert await kube.pods(namespace, f"{LABEL_CONVOY}=cr") == []  # parked before any pod
    warnings = json.loads(
        kubectl(
            "get", "events", "-n", namespace, "-o", "json", "--field-selector", "type=Warning"
        ).stdout
    )["items"]
    assert {e["involvedObject"]["name"] for e in warnings} >= {p["metadata"]["name"]
                                                                for p in parked}  # fmt: skip
    status = await gt("auth", "status")
    assert status.code == 1  # expired
    assert "claude-creds" in status.out

    fresh = workdir / "fresh.json"
    fresh.write_text(session(FRESH_ACCESS, FRESH_REFRESH, 8 * 3600))
    synced = await gt("auth", "sync", "--file", str(fresh), "--force")
    assert synced.code == 0, synced.err

    progress = await asyncio.wait_for(handle.result(), 420)
    assert (progress.phase.value, progress.counts.done, progress.counts.failed) == (
        "Complete",
        10,
        0,
    )
    assert all(b.attempts == 1 for b in progress.beads)  # none counted as failed and retried
    pods = await kube.pods(namespace, f"{LABEL_CONVOY}=cr")
    assert len(pods) == 10
    places = await convoy_places(temporal_client, kube, kubectl, namespace, "cr")
    assert_no_leak(
        {
            **places,
            "worker logs": caplog.text,
            "pod specs": json.dumps([p["spec"] for p in pods]),
            "cli output": status.out + status.err + synced.out + synced.err,
        },
        (ACCESS, REFRESH, FRESH_ACCESS, FRESH_REFRESH),
    )


async def _all(items: Awaitable[list[dict[str, Any]]], n: int) -> list[dict[str, Any]] | None:
    found = await items
    return found if len(found) == n else None


# ---------------------------------------------------------------- keeper mode
RECORDER = Path(__file__).resolve().parent / "agents" / "record_claude.py"


@pytest.fixture
def oauth() -> Iterator[TokenEndpoint]:
    with token_endpoint() as endpoint:
        endpoint.seed(REFRESH)
        yield endpoint


@pytest.fixture
async def keeper_worker(
    temporal_client: Client, kube: ClusterKube, pod_tools: Path, oauth: TokenEndpoint
) -> AsyncIterator[Worker]:
    """Our worker, its keeper refreshing at the local token endpoint."""
    options = WorkerOptions(oauth=OAuthConfig(token_url=oauth.url, client_id=CLIENT_ID))
    queue = f"gastown-{secrets.token_hex(4)}"
    async with build_worker(temporal_client, queue, kube, TEST_DEFAULTS, options) as w:
        yield w


def recorder_rig(rig_factory: Callable[..., str]) -> str:
    # The claude-code agent's CLI is `agentConfig.command` (GT_CLAUDE_BIN is the runtime's).
    command = [str(RECORDER)]
    return rig_factory(
        claudeCredsSecretRef={"name": "claude-creds"}, agentConfig={"command": command}
    )


def seen_by_pod(origin: Path, bead: str) -> str:
    """What the stand-in Claude of bead's pod recorded, from the branch it pushed."""
    return subprocess.run(
        ["git", "--git-dir", str(origin), "show", f"refs/heads/feature/{bead}:AUTH_SEEN.txt"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


async def test_keeper_fifty_polecats_near_expiry_make_one_refresh(
    temporal_client: Client,
    keeper_worker: Worker,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    oauth: TokenEndpoint,
    origin: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Valid for 20 more minutes: not long enough for a pod's deadline (an hour).
    credentials_secret(core, namespace, session(ACCESS, REFRESH, 1200), mode="keeper")
    rig = recorder_rig(rig_factory)
    spec = {
        "description": "Keeper",
        "trackedBeads": beads(50),
        "rigRef": rig,
        "parallelism": 50,
        "agent": "claude-code",
    }
    handle = await start_convoy(temporal_client, kube, keeper_worker.task_queue, namespace,
                                "k", spec)  # fmt: skip
    progress = await asyncio.wait_for(handle.result(), 540)
    assert (progress.phase.value, progress.counts.done) == ("Complete", 50), progress.beads

    assert oauth.refreshes() == 1, oauth.requests  # fifty asked, one refresh
    new_access, new_refresh = oauth.issued[0]
    stored = core.read_namespaced_secret("claude-creds", namespace)
    doc = json.loads(base64.b64decode(stored.data[SESSION_KEY]))["claudeAiOauth"]
    assert (doc["accessToken"], doc["refreshToken"]) == (new_access, new_refresh)
    assert doc["expiresAt"] > (time.time() + 7 * 3600) * 1000
    assert doc["scopes"] == ["user:inference"]  # the fields we do not read, kept
    refresh_tokens = (REFRESH, new_refresh, "refreshToken")
    for bead in beads(50):
        seen = seen_by_pod(origin, bead)
        assert new_access in seen, f"{bead}'s pod did not get the new access token"
        assert ACCESS not in seen
        for token in refresh_tokens:
            assert token not in seen, f"{bead}'s pod could read a refresh token"
    pods = await kube.pods(namespace, f"{LABEL_CONVOY}=k")
    assert len(pods) == 50
    for pod in pods:
        secrets_used = [v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v]
        assert "claude-creds" not in secrets_used
        assert f"polecat-{pod['metadata']['labels'][LABEL_POLECAT]}-auth" in secrets_used
    # The polecats' own Secrets went with them; the user's stays.
    left = [s.metadata.name for s in core.list_namespaced_secret(namespace).items]
    assert left == ["claude-creds"]

    places = await convoy_places(temporal_client, kube, kubectl, namespace, "k")
    assert_no_leak(
        {
            **places,
            "worker logs": caplog.text,
            "pod specs and statuses": json.dumps(pods),
        },
        (ACCESS, REFRESH, new_access, new_refresh),
    )


async def test_a_refused_refresh_parks_with_the_hint_instead_of_failing(
    temporal_client: Client,
    keeper_worker: Worker,
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
    core: client.CoreV1Api,
    oauth: TokenEndpoint,
) -> None:
    oauth.reject_all = True  # invalid_grant: the refresh token was used elsewhere
    credentials_secret(core, namespace, session(ACCESS, REFRESH, 1200), mode="keeper")
    rig = recorder_rig(rig_factory)
    handle = await apply_and_start(temporal_client, kube, keeper_worker.task_queue, namespace,
                                   "slit", {"rig": rig, "beadID": "dm-0001",
                                            "agent": "claude-code"})  # fmt: skip
    parked = await wait_until(
        lambda: _all(polecats_in(kube, namespace, "WaitingForCredentials"), 1),
        120,
        "the polecat to park",
    )
    status = parked[0]["status"]
    [ready] = [x for x in status["conditions"] if x["type"] == "Ready"]
    assert (ready["status"], ready["reason"]) == ("Unknown", "RefreshRejected"), status
    assert "kubectl gt auth sync --handover" in status["message"]
    assert oauth.refreshes() == 1
    assert await kube.pods(namespace, "gastown.gastown.io/polecat=slit") == []
    state = await handle.query(c.QUERY_STATUS, result_type=PolecatState)
    assert state.phase.value == "WaitingForCredentials"
    await handle.execute_update(c.UPDATE_NUKE, NukeRequest(reason="test over"))


async def test_an_applied_polecat_with_an_expired_session_says_so_where_the_user_looks(
    watcher_thread: ThreadedWatcher,  # noqa: F811 - the fixture imported above
    kube: ClusterKube,
    namespace: str,
    rig_factory: Callable[..., str],
    gt: Callable[..., Awaitable[Result]],
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    workdir: Path,
) -> None:
    """The issue's story: `kubectl apply` of a Polecat while the session had expired left an
    empty PHASE, no message and no Event. Now it waits, says why, and goes on after a sync."""
    credentials_secret(core, namespace, session(ACCESS, REFRESH, -60))
    rig = rig_factory(claudeCredsSecretRef={"name": "claude-creds"})
    apply(kubectl, polecat_doc(namespace, "toast", rig, desiredState="Working"))

    def row() -> str:
        return kubectl("get", "polecat", "toast", "-n", namespace, "--no-headers").stdout

    async def waiting() -> bool:
        return "WaitingForCredentials" in row()

    await wait_until(waiting, 60, "kubectl get polecats to show WaitingForCredentials")
    described = (await gt("polecat", "status", f"{rig}/toast")).out
    assert HINT in described, described
    events = kubectl("get", "events", "-n", namespace, "--field-selector",
                     "involvedObject.name=toast,type=Warning").stdout  # fmt: skip
    assert "CredentialsExpired" in events, events

    fresh = workdir / "fresh.json"
    fresh.write_text(session(FRESH_ACCESS, FRESH_REFRESH, 8 * 3600))
    assert (await gt("auth", "sync", "--file", str(fresh), "--force")).code == 0

    async def done() -> bool:
        return " Done " in f" {row()} "

    await wait_until(done, 120, "the polecat to go on and finish")
