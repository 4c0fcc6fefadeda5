"""Operations with logic: conditions, Events, finalizers, Leases, create-or-replace, builders."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gastown.api.polecat import PodMirror, PolecatPhase, PolecatStatus
from gastown.kube import (
    CONFIGMAPS,
    EVENTS,
    PODS,
    POLECATS,
    Conflict,
    Kube,
    conditions,
    events,
    finalizers,
    leases,
    patching,
    reading,
    writing,
)
from gastown.kube.status import status_patch

OURS = "gastown.gastown.io/workflow"
THEIRS = "example.com/other"


async def polecat(kube: Kube, namespace: str, name: str = "p") -> dict[str, Any]:
    body = {
        "apiVersion": POLECATS.api_version,
        "kind": POLECATS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"rig": "r"},
    }
    created: dict[str, Any] = await kube.run(writing.create(POLECATS, body))
    return created


def test_condition_transition_time_moves_only_with_status() -> None:
    old = [
        {"type": "Other", "status": "True", "reason": "Fine", "message": "",
         "lastTransitionTime": "2020-01-01T00:00:00Z"},
        {"type": "Ready", "status": "False", "reason": "Waiting", "message": "a",
         "lastTransitionTime": "2021-01-01T00:00:00Z"},
    ]  # fmt: skip
    same = conditions.upsert(
        old, conditions.condition(old, "Ready", "False", "StillWaiting", "b", generation=3)
    )
    assert [c["type"] for c in same] == ["Other", "Ready"]
    assert same[1]["lastTransitionTime"] == "2021-01-01T00:00:00Z"
    assert (same[1]["reason"], same[1]["message"], same[1]["observedGeneration"]) == (
        "StillWaiting",
        "b",
        3,
    )
    assert same[0] == old[0]
    flipped = conditions.upsert(old, conditions.condition(old, "Ready", "True", "Done", "c"))
    assert flipped[1]["lastTransitionTime"] > "2021-01-01T00:00:00Z"
    added = conditions.upsert(
        old[:1], conditions.condition(old[:1], "Ready", "Unknown", "Starting", "")
    )
    assert [c["type"] for c in added] == ["Other", "Ready"]
    assert conditions.same(flipped, [{**c, "lastTransitionTime": "x"} for c in flipped])
    assert not conditions.same(flipped, same)


def test_condition_refuses_a_malformed_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        conditions.condition([], "Ready", "True", "not a reason!", "")


async def test_event_named_from_content_is_recorded_once(kube: Kube, namespace: str) -> None:
    obj = await polecat(kube, namespace)
    first = events.body(obj, key="run-1|attempt-1", reason="Started", message="m", component="t")
    again = events.body(obj, key="run-1|attempt-1", reason="Started", message="m", component="t")
    other = events.body(obj, key="run-1|attempt-2", reason="Started", message="m", component="t")
    assert first["metadata"]["name"] == again["metadata"]["name"]
    assert first["metadata"]["name"].startswith("p.")
    assert await kube.run(events.record(first)) is True
    assert await kube.run(events.record(again)) is False  # a retry: already recorded
    assert await kube.run(events.record(other)) is True
    recorded = await kube.run(reading.items(EVENTS, namespace))
    assert sorted(e["metadata"]["name"] for e in recorded) == sorted(
        [first["metadata"]["name"], other["metadata"]["name"]]
    )
    assert recorded[0]["involvedObject"]["uid"] == obj["metadata"]["uid"]


async def test_finalizer_add_is_guarded_by_resource_version(kube: Kube, namespace: str) -> None:
    obj = await polecat(kube, namespace)
    assert await kube.run(finalizers.add(POLECATS, obj, OURS)) is True
    with pytest.raises(Conflict):  # `obj` is stale now
        await kube.run(finalizers.add(POLECATS, obj, THEIRS))
    fresh = await kube.run(reading.get(POLECATS, "p", namespace))
    assert await kube.run(finalizers.add(POLECATS, fresh, OURS)) is False
    assert fresh["metadata"]["finalizers"] == [OURS]


async def test_finalizer_remove_never_drops_another(kube: Kube, namespace: str) -> None:
    obj = await polecat(kube, namespace)
    await kube.run(finalizers.add(POLECATS, obj, OURS))
    seen = await kube.run(reading.get(POLECATS, "p", namespace))
    # Another controller puts its finalizer first: ours moves from index 0 to 1.
    await kube.run(
        patching.merge(POLECATS, "p", {"metadata": {"finalizers": [THEIRS, OURS]}}, namespace)
    )
    assert await kube.run(finalizers.remove(POLECATS, seen, OURS)) is False
    fresh = await kube.run(reading.get(POLECATS, "p", namespace))
    assert fresh["metadata"]["finalizers"] == [THEIRS, OURS]
    assert await kube.run(finalizers.remove(POLECATS, fresh, OURS)) is True
    final = await kube.run(reading.get(POLECATS, "p", namespace))
    assert final["metadata"]["finalizers"] == [THEIRS]


async def test_lease_race_has_one_winner(kube: Kube, namespace: str) -> None:
    spec_a = leases.spec("a", 15, 0)
    spec_b = leases.spec("b", 15, 0)
    outcomes = await asyncio.gather(
        kube.run(leases.take(namespace, "l", spec_a)),
        kube.run(leases.take(namespace, "l", spec_b)),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "dict"]
    lease = await kube.run(leases.read(namespace, "l"))
    assert lease is not None
    renewed = await kube.run(leases.write(lease, leases.spec("c", 15, 1)))
    with pytest.raises(Conflict):  # `lease` was read before the renewal
        await kube.run(leases.write(lease, leases.spec("d", 15, 1)))
    assert renewed["spec"]["holderIdentity"] == "c"
    assert await kube.run(leases.read(namespace, "nobody")) is None


async def test_create_or_replace_and_delete_with_uid(kube: Kube, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}
    await kube.run(writing.create_or_replace(CONFIGMAPS, body, namespace))
    body["data"] = {"a": "2"}
    replaced = await kube.run(writing.create_or_replace(CONFIGMAPS, body, namespace))
    assert replaced["data"] == {"a": "2"}
    assert await kube.run(writing.delete(CONFIGMAPS, "cm", namespace, uid="not-its-uid")) is False
    assert await kube.run(reading.exists(CONFIGMAPS, "cm", namespace))
    uid = replaced["metadata"]["uid"]
    assert await kube.run(writing.delete(CONFIGMAPS, "cm", namespace, uid=uid)) is True
    assert await kube.run(writing.delete(CONFIGMAPS, "cm", namespace, uid=uid)) is False
    assert await kube.run(reading.items(PODS, namespace)) == []


async def test_status_from_the_model(kube: Kube, namespace: str) -> None:
    await polecat(kube, namespace)
    status = PolecatStatus(phase=PolecatPhase.WORKING, pod_name="p-1", attempt=1)
    patch = status_patch(status)
    assert patch == {"status": {"phase": "Working", "podName": "p-1", "attempt": 1}}
    await kube.run(patching.merge(POLECATS, "p", patch, namespace, status=True))
    mirror = status_patch(PodMirror(name="p-1", phase="Running"), key="pod", clear_unset=True)
    assert mirror["status"]["pod"]["reason"] is None  # null: a merge patch deletes it
    written = await kube.run(patching.merge(POLECATS, "p", mirror, namespace, status=True))
    assert written["status"]["phase"] == "Working"
    assert written["status"]["pod"] == {"name": "p-1", "phase": "Running"}


def test_the_same_operation_runs_synchronously(kube: Kube, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {}}
    kube.run_sync(writing.create(CONFIGMAPS, body, namespace))
    assert kube.run_sync(reading.get(CONFIGMAPS, "s", namespace))["metadata"]["name"] == "s"


def test_delete_options_are_sent_only_when_given() -> None:
    bare = next(writing.delete(PODS, "p", "ns"))
    assert (bare.method, bare.path, bare.body) == ("DELETE", "/api/v1/namespaces/ns/pods/p", None)
    now = next(writing.delete(PODS, "p", "ns", uid="u1", grace_seconds=0, propagation="Background"))
    assert now.body == {
        "preconditions": {"uid": "u1"},
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Background",
    }
