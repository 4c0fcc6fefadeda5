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
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client
from temporalio.worker import Worker

from gastown.api.auth import ANNOTATION_MODE, LABEL_CREDENTIALS, SESSION_KEY
from gastown.api.identity import (
    LABEL_CONVOY,
    convoy_workflow_id,
    credentials_workflow_id,
    polecat_workflow_id,
)
from gastown.kube import CONVOYS, reading
from tests.e2e.conftest import ClusterKube, Result, wait_until
from tests.e2e.test_claude_secrets import decoded_history
from tests.e2e.test_convoy import beads, start_convoy
from tests.operator.conftest import ThreadedWatcher, watcher_thread  # noqa: F401 - fixture

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


def assert_no_token(places: dict[str, str], tokens: Iterable[str]) -> None:
    for where, text in places.items():
        assert text, f"{where} is empty: the search would prove nothing"
        for token in tokens:
            assert token not in text, f"a token leaked into {where}"


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
    spec = {"trackedBeads": beads(10), "rigRef": rig, "parallelism": 10}
    handle = await start_convoy(temporal_client, kube, worker.task_queue, namespace, "cr", spec)

    parked = await wait_until(
        lambda: _all(polecats_in(kube, namespace, "WaitingForCredentials"), 10),
        180,
        "all ten polecats to park",
    )
    for polecat in parked:
        assert HINT in polecat["status"]["message"]
    listed = kubectl("get", "polecats", "-n", namespace).stdout
    assert listed.count("WaitingForCredentials") == 10, listed
    convoy = await kube.run(reading.get(CONVOYS, "cr", namespace))
    assert convoy["status"]["reason"] == "WaitingForCredentials"
    assert (convoy["status"]["counts"]["waiting"], convoy["status"]["counts"]["failed"]) == (10, 0)
    assert await kube.pods(namespace, f"{LABEL_CONVOY}=cr") == []  # parked before any pod
    warnings = json.loads(
        kubectl("get", "events", "-n", namespace, "-o", "json", "--field-selector",
                "type=Warning").stdout  # fmt: skip
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
    polecats = [p["metadata"]["name"] for p in await kube.list_polecats(namespace)]
    ids = [polecat_workflow_id(namespace, n) for n in polecats]
    ids += [convoy_workflow_id(namespace, "cr"), credentials_workflow_id(namespace, "claude-creds")]
    assert_no_token(
        {
            "histories": await histories(temporal_client, ids),
            "worker logs": caplog.text,
            "events": kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
            "polecat statuses": json.dumps(await kube.list_polecats(namespace)),
            "convoy status": json.dumps(await kube.run(reading.get(CONVOYS, "cr", namespace))),
            "pod specs": json.dumps([p["spec"] for p in pods]),
            "cli output": status.out + status.err + synced.out + synced.err,
        },
        (ACCESS, REFRESH, FRESH_ACCESS, FRESH_REFRESH),
    )


async def _all(items: Awaitable[list[dict[str, Any]]], n: int) -> list[dict[str, Any]] | None:
    found = await items
    return found if len(found) == n else None
