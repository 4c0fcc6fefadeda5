"""The watcher tells a credentials Secret's workflow of every change; a keeper-mode Secret's
keeper is started by signal-with-start.

The workflow is a stand-in registered under the real type name (the real CredentialsWorkflow is
tested in tests/workflows): it records its input and every `secret_changed` signal, so the test
sees exactly what the watcher sent through Temporal. The watcher is the real one, on a task
queue only this stand-in serves; the Secrets are written through the API as `auth sync` and
`kubectl` would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from gastown.api.auth import ANNOTATION_MODE, LABEL_CREDENTIALS, SESSION_KEY
from gastown.api.identity import credentials_workflow_id
from gastown.kube import SECRETS, patching, writing
from gastown.sandbox.cluster import Sandbox
from gastown.workflows import contract as c
from gastown.workflows.messages import CredentialsInput, SecretChanged
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import ThreadedWatcher, stand_in_worker, wait_until, watching

CANARY = "sk-ant-oat01-CANARYWATCH-0123456789"
REPLICA = "claude-creds"  # Secret names
KEEPER = "team-creds"


@workflow.defn(name=c.CREDENTIALS_WORKFLOW)
class StandInCredentials:
    def __init__(self) -> None:
        self.input: CredentialsInput | None = None
        self.versions: list[str] = []
        self.finished = False

    @workflow.run
    async def run(self, inp: CredentialsInput) -> None:
        self.input = inp
        await workflow.wait_condition(lambda: self.finished)

    @workflow.signal(name=c.SIGNAL_SECRET_CHANGED)
    def secret_changed(self, change: SecretChanged) -> None:
        self.versions.append(change.version)

    @workflow.query(name="input")
    def get_input(self) -> CredentialsInput | None:
        return self.input

    @workflow.query(name="versions")
    def get_versions(self) -> list[str]:
        return self.versions

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.finished = True


@pytest.fixture
async def creds_worker(temporal_client: Client) -> AsyncIterator[Worker]:
    async with stand_in_worker(temporal_client, StandInCredentials, "credentials") as w:
        yield w


@pytest.fixture
def creds_watcher(
    cluster: Cluster, temporal: TemporalDev, creds_worker: Worker
) -> Iterator[ThreadedWatcher]:
    with watching(cluster, temporal, creds_worker) as threaded:
        yield threaded


def secret_doc(name: str, *, keeper: bool = False, labelled: bool = True) -> dict[str, Any]:
    # As `kubectl apply` leaves it: the whole Secret, data included, in an annotation.
    applied = json.dumps({"stringData": {SESSION_KEY: CANARY}})
    meta: dict[str, Any] = {
        "name": name,
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied},
    }
    if labelled:
        meta["labels"] = {LABEL_CREDENTIALS: "true"}
    if keeper:
        meta["annotations"][ANNOTATION_MODE] = "keeper"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "stringData": {SESSION_KEY: CANARY},
    }


async def versions(client: Client, wid: str) -> list[str]:
    got: list[str] = await client.get_workflow_handle(wid).query("versions", result_type=list[str])
    return got


async def exists(client: Client, wid: str) -> bool:
    try:
        await client.get_workflow_handle(wid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_a_change_is_signalled_to_the_running_workflow_and_nothing_is_started_for_a_replica(
    creds_watcher: ThreadedWatcher,
    creds_worker: Worker,
    namespace: str,
    kube: ClusterKube,
    temporal_client: Client,
) -> None:
    watch = creds_watcher.watcher
    assert watch is not None
    # Everything the watcher receives of a credentials Secret: metadata only, never its data.
    received: list[tuple[str | None, dict[str, Any]]] = []
    deliver = watch.secrets.deliver

    def recording(kind: str | None, meta: dict[str, Any]) -> None:
        received.append((kind, meta))
        deliver(kind, meta)

    watch.secrets.deliver = recording
    wid = credentials_workflow_id(namespace, REPLICA)
    made = await kube.run(writing.create(SECRETS, secret_doc(REPLICA), namespace))
    first = made["metadata"]["resourceVersion"]

    # Nobody waits on a replica Secret: the watcher has looked at it, and started nothing.
    key = (namespace, REPLICA)
    await wait_until(
        lambda: _true(watch.credentials.told.get(key) == first), 30, "the watcher to see it"
    )
    assert not await exists(temporal_client, wid)

    # A workflow runs (a polecat waits on the Secret): the next change reaches it.
    handle = await temporal_client.start_workflow(
        c.CREDENTIALS_WORKFLOW,
        CredentialsInput(namespace=namespace, secret=REPLICA),
        id=wid,
        task_queue=creds_worker.task_queue,
    )
    patch = {"metadata": {"annotations": {"example.com/touched": "1"}}}
    changed = await kube.run(patching.merge(SECRETS, REPLICA, patch, namespace))
    second = changed["metadata"]["resourceVersion"]
    assert second != first

    async def told() -> list[str] | None:
        got = await versions(temporal_client, wid)
        return got if second in got else None

    got = await wait_until(told, 30, "the secret_changed signal")
    assert got == [second]  # one signal for one change; the first version went to nobody

    # An unlabelled Secret is not watched at all (the label selector is server-side): made
    # before the next change to ours, it is never seen, while that change is.
    await kube.run(writing.create(SECRETS, secret_doc("other", labelled=False), namespace))
    relabel = {"metadata": {"labels": {"example.com/team": "a"}}}
    third = (await kube.run(patching.merge(SECRETS, REPLICA, relabel, namespace)))["metadata"][
        "resourceVersion"
    ]

    async def told_third() -> list[str] | None:
        got = await versions(temporal_client, wid)
        return got if third in got else None

    assert await wait_until(told_third, 30, "the third change") == [second, third]
    assert (namespace, "other") not in watch.credentials.told
    ours = [meta for _, meta in received if meta["metadata"].get("namespace") == namespace]
    assert len(ours) == 3  # created, annotated, relabelled
    for meta in ours:
        assert meta["kind"] == "PartialObjectMetadata"
        assert set(meta) == {"kind", "apiVersion", "metadata"}
        assert set(meta["metadata"]) <= {
            "namespace",
            "name",
            "uid",
            "resourceVersion",
            "annotations",
        }
        assert CANARY not in json.dumps(meta)
    await handle.signal("finish")


async def test_a_keeper_secret_starts_its_keeper(
    creds_watcher: ThreadedWatcher,
    creds_worker: Worker,
    namespace: str,
    kube: ClusterKube,
    temporal_client: Client,
) -> None:
    wid = credentials_workflow_id(namespace, KEEPER)
    made = await kube.run(writing.create(SECRETS, secret_doc(KEEPER, keeper=True), namespace))
    version = made["metadata"]["resourceVersion"]

    async def started() -> list[str] | None:
        if not await exists(temporal_client, wid):
            return None
        got = await versions(temporal_client, wid)
        return got or None

    got = await wait_until(started, 30, "the keeper to be started")
    assert got == [version]
    handle = temporal_client.get_workflow_handle(wid)
    desc = await handle.describe()
    assert (desc.workflow_type, desc.task_queue) == (
        c.CREDENTIALS_WORKFLOW,
        creds_worker.task_queue,
    )
    assert desc.status == WorkflowExecutionStatus.RUNNING
    inp = await handle.query("input", result_type=CredentialsInput)
    assert inp == CredentialsInput(namespace=namespace, secret=KEEPER)

    # The history holds the version, never the Secret's data.
    history = await handle.fetch_history()
    assert CANARY not in history.to_json()
    await handle.signal("finish")


async def _true(value: bool) -> bool:
    return value


async def test_cut_and_expired_watches_lose_no_change_and_a_deletion_is_told(
    creds_watcher: ThreadedWatcher,
    creds_worker: Worker,
    namespace: str,
    kube: ClusterKube,
    temporal_client: Client,
    sandbox: Sandbox,
) -> None:
    watch = creds_watcher.watcher
    assert watch is not None
    await wait_until(lambda: _true(watch.secrets.listed >= 1), 30, "the first listing")
    # Every Secret watch ends after one event; a resumed one may be told 410 Gone (re-list).
    sandbox.faults.cut_watches("secrets", after_events=1)
    sandbox.faults.expire_next_watch(2)
    watch.secrets.reconnect()  # the watch open now was opened before the faults
    wid = credentials_workflow_id(namespace, REPLICA)
    handle = await temporal_client.start_workflow(
        c.CREDENTIALS_WORKFLOW,
        CredentialsInput(namespace=namespace, secret=REPLICA),
        id=wid,
        task_queue=creds_worker.task_queue,
    )
    expected = []
    made = await kube.run(writing.create(SECRETS, secret_doc(REPLICA), namespace))
    expected.append(made["metadata"]["resourceVersion"])
    for n in range(3):
        patch = {"metadata": {"annotations": {"example.com/n": str(n)}}}
        changed = await kube.run(patching.merge(SECRETS, REPLICA, patch, namespace))
        expected.append(changed["metadata"]["resourceVersion"])

    async def has_last() -> list[str] | None:
        got = await versions(temporal_client, wid)
        return got if expected[-1] in got else None

    got = await wait_until(has_last, 30, "the last change, through cut and expired watches")
    assert got[-1] == expected[-1]
    assert set(got) <= set(expected)  # nothing invented, nothing told twice
    assert len(got) == len(set(got))

    # A deletion is told too (the waiting polecats look again and find it gone).
    await kube.run(writing.delete(SECRETS, REPLICA, namespace))

    async def after_delete() -> list[str] | None:
        now = await versions(temporal_client, wid)
        return now if len(now) > len(got) else None

    await wait_until(after_delete, 30, "the deletion to be told")
    assert watch.secrets.listed >= 2  # it did re-list after a 410
    await handle.signal("finish")
