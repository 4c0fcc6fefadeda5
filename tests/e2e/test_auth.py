"""`kubectl gt auth sync|status` through the real kubectl binary against the sandbox.

Each run gets its own HOME (a real-shaped ~/.claude: projects/, todos/, statsig/,
settings.json and .credentials.json), PATH (a stand-in macOS `security` where the keychain is
tested) and stdin, as a user's shell would give them. Every output of every run is kept and
scanned for the canary tokens at the end of each test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from gastown.api.auth import (
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_MODE,
    ANNOTATION_SYNCED_AT,
    LABEL_CREDENTIALS,
    SESSION_KEY,
    TOKEN_KEY,
)
from gastown.api.identity import LABEL_MANAGED_BY, credentials_workflow_id
from gastown.kube import POLECATS, SECRETS, patching, writing
from gastown.workflows import contract as c
from gastown.workflows.messages import CredentialsInput, RefreshResult
from tests.conftest import KUBECTL, Cluster, TemporalDev
from tests.e2e.conftest import BIN, ClusterKube, Result, wait_until

TOKEN = "sk-ant-oat01-CANARYAUTH-0123456789"
REFRESH = "sk-ant-ort01-CANARYREFRESH-0123456789"
TOKEN2 = "sk-ant-oat01-CANARYSECOND-9876543210"
REFRESH2 = "sk-ant-ort01-CANARYSECONDREFRESH-9876543210"
LONG_LIVED = "sk-ant-oat01-CANARYLONGLIVED-abcdef0123"
EXTRA = "CANARY-NOT-CREDENTIALS"  # in the other files of ~/.claude: must never be stored
CANARIES = (TOKEN, REFRESH, TOKEN2, REFRESH2, LONG_LIVED)
SECRET = "claude-creds"


def document(expires_in: float, access: str = TOKEN, refresh: str | None = REFRESH) -> str:
    oauth: dict[str, Any] = {
        "accessToken": access,
        "expiresAt": int((time.time() + expires_in) * 1000),
        "scopes": ["user:inference"],
        "subscriptionType": "max",
    }
    if refresh:
        oauth["refreshToken"] = refresh
    return json.dumps({"claudeAiOauth": oauth})


def real_home(root: Path, expires_in: float = 7200) -> Path:
    """A home whose ~/.claude looks like Claude Code's after some use."""
    claude = root / ".claude"
    for sub in ("projects/-work-repo", "todos", "statsig", "shell-snapshots"):
        (claude / sub).mkdir(parents=True)
    (claude / "projects/-work-repo/0b1c.jsonl").write_text(json.dumps({"text": EXTRA}) + "\n")
    (claude / "todos/t.json").write_text(json.dumps([{"content": EXTRA}]))
    (claude / "statsig/statsig.stable_id").write_text(EXTRA)
    (claude / "settings.json").write_text(json.dumps({"theme": "dark", "note": EXTRA}))
    (root / ".claude.json").write_text(json.dumps({"userID": EXTRA}))
    # Claude Code keeps MCP servers' logins beside its own: never to be stored.
    doc = json.loads(document(expires_in))
    doc["mcpOAuth"] = {"linear|0b1c": {"accessToken": EXTRA, "refreshToken": EXTRA}}
    (claude / ".credentials.json").write_text(json.dumps(doc))
    return root


@dataclass
class Runner:
    """`kubectl gt … -n <ns>` with a HOME and PATH of the test's choosing; every output kept."""

    cluster: Cluster
    temporal: TemporalDev
    namespace: str
    home: Path
    bin_dir: Path
    results: list[Result] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TEMPORAL_", "CLAUDE_", "GASTOWN_"))
        }
        env.update(
            HOME=str(self.home),
            PATH=os.pathsep.join([str(self.bin_dir), str(BIN), os.environ.get("PATH", "")]),
            KUBECONFIG=str(self.cluster.kubeconfig),
            TEMPORAL_ADDRESS=self.temporal.address,
            TEMPORAL_NAMESPACE=self.temporal.namespace,
            GASTOWN_TASK_QUEUE="auth-tests",
        )
        env.update(extra)
        return env

    async def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 60, **env: str
    ) -> Result:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL,
            "gt",
            *args,
            "-n",
            self.namespace,
            env=self.env(**env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        data = stdin.encode() if stdin is not None else b""
        out, err = await asyncio.wait_for(proc.communicate(data), timeout)
        assert proc.returncode is not None
        result = Result(proc.returncode, out.decode(), err.decode())
        self.results.append(result)
        return result

    def scan(self) -> None:
        """No token in anything any run printed."""
        assert self.results
        for result in self.results:
            for canary in CANARIES:
                assert canary not in result.out + result.err


@pytest.fixture
async def gt_auth(
    cluster: Cluster, temporal: TemporalDev, namespace: str, tmp_path: Path
) -> AsyncIterator[Runner]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    runner = Runner(cluster, temporal, namespace, real_home(tmp_path / "home"), bin_dir)
    yield runner
    runner.scan()


def stored(core: client.CoreV1Api, namespace: str, name: str = SECRET) -> client.V1Secret:
    return core.read_namespaced_secret(name, namespace)


def value(secret: client.V1Secret, key: str) -> str:
    return base64.b64decode(secret.data[key]).decode()


async def test_sync_from_a_real_home_stores_only_the_credentials_document(
    gt_auth: Runner, core: client.CoreV1Api, namespace: str, kubectl: Callable[..., Any]
) -> None:
    creds = gt_auth.home / ".claude" / ".credentials.json"
    synced = await gt_auth("auth", "sync")
    assert synced.code == 0, synced.err
    assert f"Secret {SECRET} synced in namespace {namespace} (session, replica)" in synced.out
    secret = stored(core, namespace)
    assert list(secret.data) == [SESSION_KEY]
    own = json.loads(creds.read_text())["claudeAiOauth"]
    assert json.loads(value(secret, SESSION_KEY)) == {"claudeAiOauth": own}
    raw = json.dumps(secret.to_dict(), default=str)
    assert EXTRA not in raw and EXTRA not in base64.b64decode(secret.data[SESSION_KEY]).decode()
    meta = secret.metadata
    assert meta.labels == {LABEL_CREDENTIALS: "true", LABEL_MANAGED_BY: "gastown-operator"}
    assert meta.annotations[ANNOTATION_MODE] == "replica"
    assert meta.annotations[ANNOTATION_SYNCED_AT].endswith("Z")
    expires = json.loads(creds.read_text())["claudeAiOauth"]["expiresAt"] // 1000
    assert meta.annotations[ANNOTATION_EXPIRES_AT] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)
    )

    again = await gt_auth("auth", "sync")
    assert again.code == 1
    assert "--force" in again.err

    # A replace keeps labels and annotations that are not ours, drops kubectl's copy of the
    # old data, and puts ours right (a keeper Secret synced again is a replica again).
    patch = {
        "metadata": {
            "labels": {"team": "a", LABEL_CREDENTIALS: "no"},
            "annotations": {
                "team/owner": "me",
                ANNOTATION_MODE: "keeper",
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"t": TOKEN}),
            },
        }
    }
    result = kubectl(
        "patch", "secret", SECRET, "-n", namespace, "--type=merge", "-p", json.dumps(patch)
    )
    assert result.returncode == 0, result.stderr
    creds.write_text(document(3600, TOKEN2, REFRESH2))
    forced = await gt_auth("auth", "sync", "--force")
    assert forced.code == 0, forced.err
    secret = stored(core, namespace)
    assert list(secret.data) == [SESSION_KEY]
    assert TOKEN2 in value(secret, SESSION_KEY)
    assert secret.metadata.labels == {
        "team": "a",
        LABEL_CREDENTIALS: "true",
        LABEL_MANAGED_BY: "gastown-operator",
    }
    notes = secret.metadata.annotations
    assert notes["team/owner"] == "me"
    assert notes[ANNOTATION_MODE] == "replica"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in notes

    # $CLAUDE_CONFIG_DIR moves the file, as it does for Claude Code.
    other = gt_auth.home / "elsewhere"
    other.mkdir()
    (other / ".credentials.json").write_text(document(3600, TOKEN, REFRESH))
    moved = await gt_auth("auth", "sync", "--secret", "moved", CLAUDE_CONFIG_DIR=str(other))
    assert moved.code == 0, moved.err
    assert TOKEN in value(stored(core, namespace, "moved"), SESSION_KEY)


async def test_an_expired_session_and_bad_input_create_nothing(
    gt_auth: Runner, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    old = tmp_path / "old.json"
    old.write_text(document(-60))
    expired = await gt_auth("auth", "sync", "--file", str(old))
    assert expired.code == 1
    assert "expired" in expired.err and "claude /login" in expired.err
    missing = await gt_auth("auth", "sync", "--file", str(tmp_path / "nope.json"))
    assert (missing.code, "--file" in missing.err) == (2, True)
    notjson = tmp_path / "settings.json"
    notjson.write_text("theme = dark")
    assert "--file" in (await gt_auth("auth", "sync", "--file", str(notjson))).err
    usage = [
        (("--secret", "Bad_Name;rm -rf"), "--secret"),
        (("--secret", "claude-creds\n"), "--secret"),
        (("--file", "$(touch /tmp/gt-pwned)"), "--file"),
        (("--watch", "--interval", "0"), "--interval"),
        (("--expires-at", "2030-01-01T00:00:00Z"), "--expires-at"),
        (("--setup-token", "--handover"), "--handover"),
        (("--from", "keychain", "--file", str(old)), "--file"),
        (("--watch", "--handover"), "--watch"),
    ]
    for args, flag in usage:
        result = await gt_auth("auth", "sync", *args, stdin=LONG_LIVED)
        assert result.code == 2, (args, result.err)
        assert flag in result.err, (args, result.err)
        assert "Traceback" not in result.err
    assert core.list_namespaced_secret(namespace).items == []
    assert not Path("/tmp/gt-pwned").exists()  # what a shell would have made


SECURITY = """#!/bin/sh
printf '%s\\n' "$@" > "{argv}"
if [ -f "{doc}" ]; then cat "{doc}"; exit 0; fi
echo "security: SecKeychainSearchCopyNext: The specified item could not be found." >&2
exit 44
"""


async def test_sync_from_the_keychain_runs_security_with_the_expected_argv(
    gt_auth: Runner, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    argv, doc = tmp_path / "argv", tmp_path / "keychain.json"
    security = gt_auth.bin_dir / "security"
    security.write_text(SECURITY.format(argv=argv, doc=doc))
    security.chmod(0o755)

    none = await gt_auth("auth", "sync", "--from", "keychain")
    assert none.code == 2
    assert "--from keychain" in none.err and "claude /login" in none.err
    assert core.list_namespaced_secret(namespace).items == []

    doc.write_text(document(5400, TOKEN2, REFRESH2))
    synced = await gt_auth("auth", "sync", "--from", "keychain")
    assert synced.code == 0, synced.err
    assert argv.read_text().splitlines() == [
        "find-generic-password",
        "-s",
        "Claude Code-credentials",
        "-w",
    ]
    secret = stored(core, namespace)
    assert list(secret.data) == [SESSION_KEY]
    assert json.loads(value(secret, SESSION_KEY)) == json.loads(doc.read_text())


async def test_setup_token_comes_from_stdin(
    gt_auth: Runner, core: client.CoreV1Api, namespace: str
) -> None:
    empty = await gt_auth("auth", "sync", "--setup-token", stdin="")
    assert (empty.code, "--setup-token" in empty.err) == (2, True)
    bad_date = await gt_auth(
        "auth", "sync", "--setup-token", "--expires-at", "next tuesday", stdin=LONG_LIVED
    )
    assert (bad_date.code, "--expires-at" in bad_date.err) == (2, True)
    assert core.list_namespaced_secret(namespace).items == []

    synced = await gt_auth(
        "auth",
        "sync",
        "--setup-token",
        "--expires-at",
        "2099-01-31T00:00:00Z",
        stdin=LONG_LIVED + "\n",
    )
    assert synced.code == 0, synced.err
    assert "(long-lived-token, replica)" in synced.out
    secret = stored(core, namespace)
    assert list(secret.data) == [TOKEN_KEY]
    assert value(secret, TOKEN_KEY) == LONG_LIVED
    assert secret.metadata.annotations[ANNOTATION_EXPIRES_AT] == "2099-01-31T00:00:00Z"

    # Replacing a session with a token leaves the one key, the token's.
    await gt_auth("auth", "sync", "--secret", "s2")
    again = await gt_auth(
        "auth", "sync", "--secret", "s2", "--setup-token", "--force", stdin=LONG_LIVED
    )
    assert again.code == 0, again.err
    assert list(stored(core, namespace, "s2").data) == [TOKEN_KEY]


async def test_handover_makes_a_keeper_and_starts_it(
    gt_auth: Runner, core: client.CoreV1Api, namespace: str, temporal_client: Client
) -> None:
    handed = await gt_auth("auth", "sync", "--handover")
    assert handed.code == 0, handed.err
    assert "claude /login" in handed.out
    assert "(session, keeper)" in handed.out
    secret = stored(core, namespace)
    assert secret.metadata.annotations[ANNOTATION_MODE] == "keeper"

    wid = credentials_workflow_id(namespace, SECRET)
    handle = temporal_client.get_workflow_handle(wid)
    desc = await handle.describe()
    try:
        assert desc.workflow_type == c.CREDENTIALS_WORKFLOW
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.task_queue == "auth-tests"
        history = (await handle.fetch_history()).to_json_dict()
        events = history["events"]
        started = events[0]["workflowExecutionStartedEventAttributes"]
        assert json.loads(base64.b64decode(started["input"]["payloads"][0]["data"])) == {
            "namespace": namespace,
            "secret": SECRET,
            "waiters": [],
            "last_version": None,
            "rejected_version": None,
            "retry_at": None,
            "failure": None,
            "attempted": None,
        }
        signals = [
            e["workflowExecutionSignaledEventAttributes"]
            for e in events
            if "workflowExecutionSignaledEventAttributes" in e
        ]
        assert [s["signalName"] for s in signals] == [c.SIGNAL_SECRET_CHANGED]
        payload = json.loads(base64.b64decode(signals[0]["input"]["payloads"][0]["data"]))
        assert payload == {"version": secret.metadata.resource_version}
        text = json.dumps(history)
        for canary in CANARIES:
            assert canary not in text
    finally:
        await handle.terminate("test over")

    # Temporal out of reach: the Secret is written, a warning says the watcher will start it.
    down = await gt_auth(
        "auth", "sync", "--handover", "--secret", "down", TEMPORAL_ADDRESS="127.0.0.1:9"
    )
    assert down.code == 0, down.err
    assert "warning:" in down.err and "watcher" in down.err
    assert stored(core, namespace, "down").metadata.annotations[ANNOTATION_MODE] == "keeper"

    # A document without a refresh token has nothing to hand over.
    creds = gt_auth.home / ".claude" / ".credentials.json"
    creds.write_text(document(3600, TOKEN, None))
    none = await gt_auth("auth", "sync", "--handover", "--secret", "none")
    assert (none.code, "--handover" in none.err) == (2, True)


@pytest.mark.parametrize("source", ["file", "keychain"])
async def test_watch_resyncs_when_the_credentials_change_and_stops_on_ctrl_c(
    gt_auth: Runner, core: client.CoreV1Api, namespace: str, tmp_path: Path, source: str
) -> None:
    creds = gt_auth.home / ".claude" / ".credentials.json"
    if source == "keychain":  # the stand-in `security` prints this file
        creds = tmp_path / "keychain.json"
        creds.write_text(document(7200))
        security = gt_auth.bin_dir / "security"
        security.write_text(SECURITY.format(argv=tmp_path / "argv", doc=creds))
        security.chmod(0o755)
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "gt", "auth", "sync", "--from", source, "--watch", "--interval", "0.2", "-n", namespace,
        env=gt_auth.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:

        async def holds(token: str) -> bool:
            try:
                secret = await asyncio.to_thread(stored, core, namespace)
            except client.ApiException:
                return False
            return token in value(secret, SESSION_KEY)

        await wait_until(lambda: holds(TOKEN), 30, "the first sync")
        creds.write_text(document(7200, TOKEN2, REFRESH2))  # as Claude Code does on a refresh
        await wait_until(lambda: holds(TOKEN2), 30, "the re-sync after the change")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    result = Result(proc.returncode, out.decode(), err.decode())
    gt_auth.results.append(result)
    assert proc.returncode == 0, result.err
    synced = [line for line in result.out.splitlines() if " synced in namespace " in line]
    assert len(synced) == 2, result.out
    assert "stopped watching" in result.out
    assert list(stored(core, namespace).data) == [SESSION_KEY]


async def test_status_shows_kind_mode_expiry_and_users(
    gt_auth: Runner,
    core: client.CoreV1Api,
    namespace: str,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
) -> None:
    assert (await gt_auth("auth", "sync")).code == 0
    assert (await gt_auth("auth", "sync", "--secret", "team", "--handover")).code == 0
    token = await gt_auth("auth", "sync", "--secret", "ci", "--setup-token", stdin=LONG_LIVED)
    assert token.code == 0, token.err
    rig = f"rig-{namespace}"
    rig_doc = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Rig",
        "metadata": {"name": rig},
        "spec": {
            "gitURL": "file:///nowhere/origin.git",
            "beadsPrefix": "dm",
            "settings": {"polecatDefaults": {"claudeCredsSecretRef": {"name": SECRET}}},
        },
    }
    assert kubectl("apply", "-f", "-", stdin=yaml.safe_dump(rig_doc)).returncode == 0
    try:
        for name, phase, spec in (
            ("a", "WaitingForCredentials", {}),
            ("b", "WaitingForCredentials", {}),
            ("c", "Working", {}),
            ("d", "Done", {}),
            ("e", "Working", {"kubernetes": {"claudeCredsSecretRef": {"name": "ci"}}}),
            ("f", "Working", {"kubernetes": {"claudeCredsSecretRef": {"name": "legacy"}}}),
        ):
            body = {
                "apiVersion": "gastown.gastown.io/v1alpha1",
                "kind": "Polecat",
                "metadata": {"name": name},
                "spec": {"rig": rig, "beadID": "dm-0001", "agent": "command", **spec},
            }
            await kube.run(writing.create(POLECATS, body, namespace))
            status = {"status": {"phase": phase}}
            await kube.run(patching.merge(POLECATS, name, status, namespace, status=True))

        # Made with kubectl, as before `auth sync` labelled its Secrets: shown, with a warning.
        legacy = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "legacy"},
            "stringData": {SESSION_KEY: document(3600, TOKEN2, REFRESH2)},
        }
        await kube.run(writing.create(SECRETS, legacy, namespace))

        shown = await gt_auth("auth", "status")
        assert shown.code == 0, shown.err
        assert "warning: Secret 'legacy'" in shown.err and "not labelled" in shown.err
        lines = shown.out.splitlines()
        assert lines[0].split() == [
            "SECRET", "KIND", "MODE", "EXPIRES", "LAST", "SYNC", "LAST", "REFRESH", "RIGS",
            "POLECATS",
        ]  # fmt: skip
        rows = {line.split()[0]: line for line in lines[1:]}
        assert set(rows) == {"ci", SECRET, "team", "legacy"}
        assert "1 working" in rows["legacy"]
        assert rows[SECRET].split()[1:4] == ["session", "replica", "in"]
        assert " 2h" in rows[SECRET] or " 1h59m" in rows[SECRET]
        assert rig in rows[SECRET]
        assert "2 waiting, 1 working" in rows[SECRET]
        assert rows["team"].split()[1:3] == ["session", "keeper"]
        assert rows["ci"].split()[1:4] == ["long-lived-token", "replica", "unknown"]
        assert "1 working" in rows["ci"]

        everywhere = await gt_auth("auth", "status", "-A")
        assert everywhere.code == 0, everywhere.err
        assert everywhere.out.splitlines()[0].split()[0] == "NAMESPACE"
        assert sum(line.startswith(namespace) for line in everywhere.out.splitlines()) == 4

        missing = await gt_auth("auth", "status", "--secret", "nope")
        assert missing.code == 1
        assert "'nope' not found" in missing.err and "kubectl gt auth sync" in missing.err

        # An expired session (written as an old sync would have left it): EXPIRED, exit 1.
        old = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "old", "labels": {LABEL_CREDENTIALS: "true"}},
            "stringData": {SESSION_KEY: document(-300, TOKEN2, REFRESH2)},
        }
        await kube.run(writing.create(SECRETS, old, namespace))
        expired = await gt_auth("auth", "status")
        assert expired.code == 1
        row = next(line for line in expired.out.splitlines() if line.startswith("old "))
        assert "EXPIRED 5m ago" in row
        assert "'old'" in expired.err and "auth sync --force" in expired.err
    finally:
        kubectl("delete", "rig", rig, "--wait=false")


async def test_status_without_credentials_says_how_to_sync(gt_auth: Runner) -> None:
    none = await gt_auth("auth", "status")
    assert none.code == 1
    assert "kubectl gt auth sync" in none.err


class StandInRefreshOrder(BaseModel):
    """The keeper's `refresh` Update argument as auth-keeper defines it (RefreshOrder)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    valid_for_seconds: int = 0
    force: bool = True


REFRESHED_UNTIL = datetime(2031, 5, 1, 12, 30, tzinfo=UTC)


@workflow.defn(name=c.CREDENTIALS_WORKFLOW)
class StandInKeeper:
    """Answers `refresh` as a keeper would, and records the orders it was given."""

    def __init__(self) -> None:
        self.orders: list[StandInRefreshOrder] = []
        self.mode = "keeper"

    @workflow.run
    async def run(self, inp: CredentialsInput) -> None:
        self.mode = "replica" if inp.secret == "replica" else "keeper"
        await workflow.wait_condition(lambda: False)

    @workflow.update(name=c.UPDATE_REFRESH)
    async def refresh(self, order: StandInRefreshOrder) -> RefreshResult:
        self.orders.append(order)
        return RefreshResult(
            refreshed=True, version="42", mode=self.mode, expires_at=REFRESHED_UNTIL
        )

    @workflow.query(name="orders")
    def get_orders(self) -> list[StandInRefreshOrder]:
        return self.orders


async def test_refresh_asks_the_keeper_and_prints_the_new_expiry(
    gt_auth: Runner, namespace: str, temporal_client: Client
) -> None:
    nobody = await gt_auth("auth", "refresh")
    assert nobody.code == 1
    assert "no keeper runs" in nobody.err and "--handover" in nobody.err

    queue = f"keeper-{secrets.token_hex(4)}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[StandInKeeper],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handles = []
        for name in (SECRET, "replica"):
            handles.append(
                await temporal_client.start_workflow(
                    c.CREDENTIALS_WORKFLOW,
                    CredentialsInput(namespace=namespace, secret=name),
                    id=credentials_workflow_id(namespace, name),
                    task_queue=queue,
                )
            )
        try:
            done = await gt_auth("auth", "refresh")
            assert done.code == 0, done.err
            assert done.out.strip() == f"Secret {SECRET}: refreshed, valid until 2031-05-01 12:30Z"
            orders = await handles[0].query("orders", result_type=list[StandInRefreshOrder])
            assert orders == [StandInRefreshOrder(valid_for_seconds=0, force=True)]

            replica = await gt_auth("auth", "refresh", "--secret", "replica")
            assert replica.code == 0, replica.err
            assert "replica mode" in replica.out and "auth sync --force" in replica.out
        finally:
            for handle in handles:
                await handle.terminate("test over")
