"""The shared pod informer and wait_pod on it, against the sandbox API server.

wait_pod runs in temporalio's ActivityEnvironment (heartbeats, cancellation, no worker); the
pods are real sandbox pods running this interpreter. Each test gets an informer scoped to its
own namespace, so the API server's count of open pod watches in that namespace is this
informer's alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.testing import ActivityEnvironment

from gastown.activities.podwatch import PodInformer, PodInformers
from gastown.activities.polecats import PolecatActivities
from gastown.activities.wait import Progress, WaitActivities
from gastown.api import identity as ids
from gastown.kube import NO_RETRY, Kube
from gastown.sandbox import Sandbox
from gastown.workflows.messages import AttemptResult, PodRef, Verdict, WaitRequest
from tests.e2e.conftest import wait_until

PY = sys.executable
pytestmark = pytest.mark.usefixtures("sandbox")  # host-command pods and fault injection


@pytest.fixture
def release() -> Iterator[Path]:
    """A file whose appearance lets the test's pods finish (so waits overlap for sure)."""
    root = Path(tempfile.mkdtemp(prefix="gt-podwatch-", dir="/tmp"))
    root.chmod(0o777)
    yield root / "go"
    (root / "go").unlink(missing_ok=True)
    root.rmdir()


@pytest.fixture(scope="module")
def kube(api_client: client.ApiClient) -> Kube:
    """A gastown.kube client with the activities' policy, as the worker builds it."""
    return Kube(api_client, NO_RETRY)


@pytest.fixture
async def informers(kube: Kube, namespace: str) -> AsyncIterator[PodInformers]:
    pods = PodInformers(kube, namespaces=[namespace], watch_seconds=30, max_backoff=0.5)
    yield pods
    await pods.close()


def informer_of(pods: PodInformers, namespace: str) -> PodInformer:
    informer = pods.of(namespace)
    assert informer is not None
    return informer


def polecat_pod(name: str, code: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {ids.LABEL_MANAGED_BY: ids.MANAGED_BY, ids.LABEL_POLECAT: name},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "claude", "image": "python:3.11", "command": [PY, "-c", code]}],
        },
    }


def until(path: Path) -> str:
    return f"import os, time\nwhile not os.path.exists({str(path)!r}): time.sleep(0.05)"


def create(core: client.CoreV1Api, namespace: str, body: dict[str, Any]) -> PodRef:
    pod = core.create_namespaced_pod(namespace, body)
    return PodRef(namespace=namespace, name=pod.metadata.name, uid=pod.metadata.uid, attempt=1)


def request(ref: PodRef, pending_timeout: int = 60) -> WaitRequest:
    return WaitRequest(
        pod=ref,
        polecat=ref.name,
        pending_timeout_seconds=pending_timeout,
        image_pull_grace_seconds=5,
    )


def environment() -> ActivityEnvironment:
    """An activity resumed after the Running status was written (no Polecat CR here), outside
    a workflow (nobody to signal)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=None,
        heartbeat_details=[Progress(running_recorded=True).model_dump(mode="json")],
    )
    return env


async def wait(
    kube: Kube, pods: PodInformers, req: WaitRequest, watch_seconds: int = 10
) -> AttemptResult:
    acts = WaitActivities(kube, PolecatActivities(kube), pods, watch_seconds=watch_seconds)
    result: AttemptResult = await environment().run(acts.wait_pod, req)
    return result


def open_pod_watches(sandbox: Sandbox, namespace: str) -> int:
    """Pod watch streams the API server is serving for this namespace right now."""
    rt = sandbox.resource("", "v1", "pods")
    assert rt is not None
    return sandbox.call(
        lambda: sum(
            1
            for w in sandbox.store._watchers.get(rt.key, ())
            if w.namespace == namespace and not w.internal
        )
    )


async def test_many_waits_share_one_watch(
    kube: Kube,
    core: client.CoreV1Api,
    namespace: str,
    sandbox: Sandbox,
    informers: PodInformers,
    release: Path,
) -> None:
    refs = [create(core, namespace, polecat_pod(f"p{i}", until(release))) for i in range(12)]
    waits = [asyncio.create_task(wait(kube, informers, request(ref))) for ref in refs]
    informer = informer_of(informers, namespace)

    async def all_waiting() -> bool:
        return informer.waiting == len(refs)

    await wait_until(all_waiting, 30, "every wait to be parked on the informer")
    assert open_pod_watches(sandbox, namespace) == 1
    release.touch()
    results = await asyncio.gather(*waits)
    assert [r.verdict for r in results] == [Verdict.FINISHED] * len(refs), results
    assert (informer.stats.lists, informer.stats.watches) == (1, 1)
    assert informer.stats.events >= len(refs)  # each pod's end came through the one watch


async def test_a_pod_deleted_while_waiting_is_vanished(
    kube: Kube, core: client.CoreV1Api, namespace: str, informers: PodInformers, release: Path
) -> None:
    ref = create(core, namespace, polecat_pod("doomed", until(release)))
    waiting = asyncio.create_task(wait(kube, informers, request(ref)))
    informer = informer_of(informers, namespace)

    async def parked() -> bool:
        return informer.waiting == 1

    await wait_until(parked, 30, "the wait to be parked")
    await asyncio.to_thread(core.delete_namespaced_pod, "doomed", namespace, grace_period_seconds=0)
    result = await waiting
    assert (result.verdict, result.reason) == (Verdict.TRANSIENT, "PodDeleted")
    assert informer.deleted(namespace, "doomed", ref.uid)


async def test_gone_relists_and_a_deletion_in_the_gap_is_noticed(
    kube: Kube,
    core: client.CoreV1Api,
    namespace: str,
    sandbox: Sandbox,
    informers: PodInformers,
    release: Path,
) -> None:
    ref = create(core, namespace, polecat_pod("gap", until(release)))
    waiting = asyncio.create_task(wait(kube, informers, request(ref)))
    informer = informer_of(informers, namespace)

    async def parked() -> bool:
        return informer.waiting == 1 and informer.live

    await wait_until(parked, 30, "the wait to be parked on a live informer")
    # The API server stops serving pod watches; the pod goes while nobody watches; the server
    # has compacted past our version by the time watches work again: 410 Gone, re-list.
    refused = sandbox.faults.fail("watch", "pods", namespace=namespace, code=500)
    sandbox.close_watches()

    async def refused_once() -> bool:
        return informer.stats.reconnects >= 1

    await wait_until(refused_once, 30, "the informer's re-watch to be refused")
    await asyncio.to_thread(core.delete_namespaced_pod, "gap", namespace, grace_period_seconds=0)
    sandbox.faults.expire_next_watch()
    sandbox.faults.rules.remove(refused)
    result = await waiting
    assert (result.verdict, result.reason) == (Verdict.TRANSIENT, "PodDeleted")
    assert informer.stats.relists_after_gone == 1
    assert informer.stats.lists == 2


async def test_reconnects_after_the_server_drops_the_watch(
    kube: Kube, core: client.CoreV1Api, namespace: str, sandbox: Sandbox, informers: PodInformers
) -> None:
    informer = informer_of(informers, namespace)

    async def live() -> bool:
        return informer.live

    await wait_until(live, 30, "the informer to list")
    # Two refused watches (backoff, retry), then a stream the server ends after one event.
    sandbox.faults.fail("watch", "pods", namespace=namespace, code=500, times=2)
    sandbox.faults.cut_watches("pods", after_events=1)
    sandbox.close_watches()
    for i in range(3):
        create(core, namespace, polecat_pod(f"late{i}", "pass"))

    async def seen() -> bool:
        return all(informer.get(namespace, f"late{i}") for i in range(3))

    await wait_until(seen, 30, "pods created after the drops to reach the cache")
    await wait_until(live, 30, "the informer to count itself live again")
    assert informer.stats.reconnects >= 2
    assert informer.stats.watches >= 4  # the first, two refused, and one per cut stream
    assert informer.stats.lists == 1  # a dropped stream resumes from its version
    assert informer.stats.relists_after_gone == 0


async def test_time_based_verdicts_fire_on_a_silent_pod(
    kube: Kube, core: client.CoreV1Api, namespace: str, informers: PodInformers
) -> None:
    body = polecat_pod("huge", "pass")
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1000"}}
    ref = create(core, namespace, body)
    result = await wait(kube, informers, request(ref, pending_timeout=1), watch_seconds=1)
    assert (result.verdict, result.reason) == (Verdict.TRANSIENT, "Unschedulable")


async def test_a_new_informer_finds_the_pod_a_closed_one_was_waiting_on(
    kube: Kube, core: client.CoreV1Api, namespace: str, release: Path
) -> None:
    """A killed worker's wait retried on the next worker: nothing was kept but the pod."""
    ref = create(core, namespace, polecat_pod("survivor", until(release)))
    first = PodInformers(kube, namespaces=[namespace])
    waiting = asyncio.create_task(wait(kube, first, request(ref)))

    async def parked() -> bool:
        return informer_of(first, namespace).waiting == 1

    await wait_until(parked, 30, "the first wait to be parked")
    waiting.cancel()
    await first.close()
    second = PodInformers(kube, namespaces=[namespace])
    try:
        retried = asyncio.create_task(wait(kube, second, request(ref)))
        release.touch()
        result = await retried
    finally:
        await second.close()
    assert result.verdict == Verdict.FINISHED
    assert informer_of(second, namespace).stats.lists == 1


async def test_a_pod_outside_the_selector_is_read_with_a_get(
    kube: Kube, core: client.CoreV1Api, namespace: str, informers: PodInformers
) -> None:
    """The cache holds our pods only; a wait on any other pod still works, by GET."""
    body = polecat_pod("stranger", "pass")
    del body["metadata"]["labels"][ids.LABEL_MANAGED_BY]
    ref = create(core, namespace, body)
    ours = create(core, namespace, polecat_pod("ours", "pass"))
    results = await asyncio.gather(
        wait(kube, informers, request(ref), watch_seconds=1), wait(kube, informers, request(ours))
    )
    assert [r.verdict for r in results] == [Verdict.FINISHED, Verdict.FINISHED]
    informer = informer_of(informers, namespace)
    assert informer.get(namespace, "ours") is not None
    assert informer.get(namespace, "stranger") is None


@pytest.fixture
def quiet_watches(sandbox: Sandbox) -> Iterator[None]:
    """No bookmarks: a watch on a namespace where nothing happens stays silent."""
    api = sandbox.api
    assert api is not None
    before = api.bookmark_interval
    api.bookmark_interval = 3600
    yield
    api.bookmark_interval = before


@pytest.mark.usefixtures("quiet_watches")
async def test_close_does_not_wait_for_the_watch_to_end(kube: Kube, namespace: str) -> None:
    """Closing unblocks the reader thread at once; it never waits out the server's watch
    timeout (here 10 minutes) on the event loop."""
    pods = PodInformers(kube, namespaces=[namespace], watch_seconds=600)
    informer = informer_of(pods, namespace)

    async def watching() -> bool:
        return informer.live and informer.streaming

    await wait_until(watching, 30, "the informer's watch stream to open")
    await asyncio.wait_for(pods.close(), 30)
    assert not informer.live
