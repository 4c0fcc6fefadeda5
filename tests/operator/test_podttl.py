"""Finished pods past their delete-after annotation are deleted by the watcher, and only those.

The pods are real sandbox pods labelled as a polecat's (they run `true` and finish), annotated
as the workflow's schedule_pod_deletion activity does; the watcher is the real one (kopf's list
and watch feed it). No workflow is needed, so these watchers serve a task queue nobody polls.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gastown.api.identity import ANNOTATION_DELETE_AFTER, LABEL_POLECAT
from gastown.api.types import format_time
from gastown.kube import PODS, Conflict, NotFound, patching, reading, writing
from gastown.operator.podttl import Deletion, Due, PodTTL
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import ThreadedWatcher, wait_until


@pytest.fixture
def idle_watcher(cluster: Cluster, temporal: TemporalDev) -> Iterator[ThreadedWatcher]:
    threaded = ThreadedWatcher(str(cluster.kubeconfig), temporal, f"q-{secrets.token_hex(4)}")
    threaded.start()
    yield threaded
    threaded.close()


def stamp(when: datetime) -> str:
    """RFC 3339 UTC, second precision, as metav1.Time (and the activity) write it."""
    return format_time(when)


def in_seconds(seconds: float) -> datetime:
    """A whole second at least `seconds` from now (the annotation has second precision)."""
    now = datetime.now(UTC)
    return datetime.fromtimestamp(math.ceil(now.timestamp() + seconds), UTC)


def pod_doc(name: str, delete_after: str | None) -> dict[str, Any]:
    annotations = {ANNOTATION_DELETE_AFTER: delete_after} if delete_after else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {LABEL_POLECAT: "nobody"},
            "annotations": annotations,
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "claude", "image": "busybox", "command": ["true"]}],
        },
    }


async def create(kube: ClusterKube, namespace: str, name: str, after: str | None) -> str:
    pod = await kube.run(writing.create(PODS, pod_doc(name, after), namespace))
    return str(pod["metadata"]["uid"])


async def uid_of(kube: ClusterKube, namespace: str, name: str) -> str | None:
    try:
        pod = await kube.run(reading.get(PODS, name, namespace))
    except NotFound:
        return None
    if (pod["metadata"]).get("deletionTimestamp"):
        return None
    return str(pod["metadata"]["uid"])


def scheduled(threaded: ThreadedWatcher, namespace: str, name: str) -> Due | None:
    watcher = threaded.watcher
    assert watcher is not None

    async def look() -> Due | None:
        return watcher.podttl.scheduled(namespace, name)

    result: Due | None = threaded.call(look())
    return result


def deletions(threaded: ThreadedWatcher, namespace: str, name: str) -> list[Deletion]:
    watcher = threaded.watcher
    assert watcher is not None

    async def look() -> list[Deletion]:
        return [d for d in watcher.podttl.recent if d.due.key == (namespace, name)]

    result: list[Deletion] = threaded.call(look())
    return result


async def test_a_pod_past_its_time_is_deleted(
    idle_watcher: ThreadedWatcher, namespace: str, kube: ClusterKube
) -> None:
    uid = await create(kube, namespace, "polecat-past-1", stamp(in_seconds(-60)))

    async def gone() -> bool:
        return await uid_of(kube, namespace, "polecat-past-1") is None

    await wait_until(gone, 30, "the pod past its TTL to be deleted")
    [deletion] = deletions(idle_watcher, namespace, "polecat-past-1")
    assert (deletion.due.uid, deletion.deleted) == (uid, True)


async def test_a_pod_is_kept_until_its_time_then_deleted(
    idle_watcher: ThreadedWatcher, namespace: str, kube: ClusterKube
) -> None:
    when = in_seconds(5)
    uid = await create(kube, namespace, "polecat-soon-1", stamp(when))
    await wait_until(
        lambda: _value(scheduled(idle_watcher, namespace, "polecat-soon-1")),
        10,
        "the watcher to schedule the pod",
    )
    assert await uid_of(kube, namespace, "polecat-soon-1") == uid
    assert datetime.now(UTC) < when, "too slow to check the pod was kept before its time"
    assert deletions(idle_watcher, namespace, "polecat-soon-1") == []

    async def gone() -> bool:
        return await uid_of(kube, namespace, "polecat-soon-1") is None

    await wait_until(gone, 30, "the pod to be deleted once its time came")
    [deletion] = deletions(idle_watcher, namespace, "polecat-soon-1")
    assert deletion.deleted and deletion.due.uid == uid
    assert deletion.at >= when, (deletion.at, when)


async def test_a_pod_without_the_annotation_is_kept(
    idle_watcher: ThreadedWatcher, namespace: str, kube: ClusterKube
) -> None:
    # Beside it, a pod past its time: once that one is gone the watcher has seen both.
    await create(kube, namespace, "polecat-keep-1", None)
    await create(kube, namespace, "polecat-marker-1", stamp(in_seconds(-1)))

    async def marker_gone() -> bool:
        return await uid_of(kube, namespace, "polecat-marker-1") is None

    await wait_until(marker_gone, 30, "the annotated pod to be deleted")
    assert await uid_of(kube, namespace, "polecat-keep-1") is not None
    assert scheduled(idle_watcher, namespace, "polecat-keep-1") is None


async def test_a_restarted_watcher_deletes_by_the_annotation_it_finds(
    cluster: Cluster, temporal: TemporalDev, namespace: str, kube: ClusterKube
) -> None:
    queue = f"q-{secrets.token_hex(4)}"
    first = ThreadedWatcher(str(cluster.kubeconfig), temporal, queue)
    first.start()
    try:
        uid = await create(kube, namespace, "polecat-restart-1", stamp(in_seconds(3600)))
        await wait_until(
            lambda: _value(scheduled(first, namespace, "polecat-restart-1")),
            10,
            "the first watcher to schedule the pod",
        )
    finally:
        first.close()
    # While no watcher runs, the pod's time comes (the annotation is moved into the past).
    patch = {"metadata": {"annotations": {ANNOTATION_DELETE_AFTER: stamp(in_seconds(-5))}}}
    await kube.run(patching.merge(PODS, "polecat-restart-1", patch, namespace))
    assert await uid_of(kube, namespace, "polecat-restart-1") == uid

    second = ThreadedWatcher(str(cluster.kubeconfig), temporal, queue)
    second.start()
    try:

        async def gone() -> bool:
            return await uid_of(kube, namespace, "polecat-restart-1") is None

        await wait_until(gone, 30, "the restarted watcher to delete the pod")
        [deletion] = deletions(second, namespace, "polecat-restart-1")
        assert (deletion.due.uid, deletion.deleted) == (uid, True)
    finally:
        second.close()


async def test_a_replaced_pod_is_not_deleted_by_the_old_pods_time(
    idle_watcher: ThreadedWatcher, namespace: str, kube: ClusterKube
) -> None:
    when = in_seconds(4)
    old = await create(kube, namespace, "polecat-again-1", stamp(when))
    await wait_until(
        lambda: _value(scheduled(idle_watcher, namespace, "polecat-again-1")),
        10,
        "the watcher to schedule the first pod",
    )
    await kube.run(writing.delete(PODS, "polecat-again-1", namespace, uid=old, grace_seconds=0))

    async def deleted() -> bool:
        try:
            await kube.run(reading.get(PODS, "polecat-again-1", namespace))
        except NotFound:
            return True
        return False

    await wait_until(deleted, 20, "the first pod to go")
    new = await create(kube, namespace, "polecat-again-1", None)

    async def old_time_passed() -> bool:
        watcher = idle_watcher.watcher
        assert watcher is not None

        async def settled() -> bool:
            return not watcher.podttl.overdue() and not watcher.podttl.queue.busy()

        return datetime.now(UTC) > when and bool(idle_watcher.call(settled()))

    await wait_until(old_time_passed, 30, "the first pod's time to pass through the schedule")
    assert await uid_of(kube, namespace, "polecat-again-1") == new
    assert deletions(idle_watcher, namespace, "polecat-again-1") == []


async def test_the_delete_names_the_uid_so_a_newer_pod_of_that_name_stays(
    namespace: str, kube: ClusterKube
) -> None:
    """The watcher's view can lag the cluster (a watch event not yet delivered): a deadline
    for the old pod must not delete the new one. The schedule is fed the old pod as the lagging
    stream would, against the real API server."""
    old_doc = await kube.run(
        writing.create(PODS, pod_doc("polecat-lag-1", stamp(in_seconds(-1))), namespace)
    )
    await kube.run(writing.delete(PODS, "polecat-lag-1", namespace, grace_seconds=0))

    async def replaced() -> str | None:
        try:
            return await create(kube, namespace, "polecat-lag-1", None)
        except Conflict:
            return None  # the old one is still going

    new = await wait_until(replaced, 20, "a new pod of the same name")
    ttl = PodTTL(kube)
    ttl.start()
    try:
        ttl.on_pod(None, old_doc)
        await wait_until(lambda: _value(list(ttl.recent)), 20, "the old pod's deadline to fire")
        assert [(d.due.uid, d.deleted) for d in ttl.recent] == [(old_doc["metadata"]["uid"], False)]
        assert await uid_of(kube, namespace, "polecat-lag-1") == new
    finally:
        await ttl.stop()


async def _value(value: Any) -> Any:
    return value


def test_due_orders_by_time() -> None:
    early = Due(datetime(2026, 1, 1, tzinfo=UTC), "z", "z", "u")
    late = Due(early.when + timedelta(seconds=1), "a", "a", "u")
    assert sorted([late, early]) == [early, late]


async def test_a_watcher_that_stepped_down_deletes_nothing(
    idle_watcher: ThreadedWatcher, namespace: str, kube: ClusterKube
) -> None:
    """What the process does the moment it loses the Lease (service/watcher.py): the timer
    stops before kopf has wound down, so a deadline passing meanwhile is another replica's."""
    watcher = idle_watcher.watcher
    assert watcher is not None
    when = in_seconds(3)
    uid = await create(kube, namespace, "polecat-follower-1", stamp(when))
    await wait_until(
        lambda: _value(scheduled(idle_watcher, namespace, "polecat-follower-1")),
        10,
        "the watcher to schedule the pod",
    )
    idle_watcher.call(watcher.step_down())

    async def passed() -> bool:
        return datetime.now(UTC) > when + timedelta(seconds=1)

    await wait_until(passed, 10, "the pod's time to pass")
    assert not idle_watcher.call(_value(watcher.podttl.queue.busy()))
    assert await uid_of(kube, namespace, "polecat-follower-1") == uid
    assert deletions(idle_watcher, namespace, "polecat-follower-1") == []
