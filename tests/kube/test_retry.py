"""Retry policies against injected faults: who retries what, and what reaches the caller."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gastown.kube import (
    CONFIGMAPS,
    POLECATS,
    Conflict,
    Kube,
    RetryPolicy,
    Unavailable,
    patching,
    reading,
    writing,
)
from gastown.sandbox import Sandbox


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


async def test_backoff_waits_retry_after_on_429_then_succeeds(
    sandbox: Sandbox, backoff: Kube, namespace: str
) -> None:
    rule = sandbox.faults.fail("create", "configmaps", code=429, retry_after=1, times=2)
    began = time.monotonic()
    created = await backoff.run(writing.create(CONFIGMAPS, configmap("c"), namespace))
    assert created["metadata"]["name"] == "c"
    assert rule.hits == 2
    # Twice the server's Retry-After, not the policy's 10 ms backoff.
    assert time.monotonic() - began >= 2


async def test_backoff_retries_5xx(sandbox: Sandbox, backoff: Kube, namespace: str) -> None:
    rule = sandbox.faults.fail("list", "configmaps", code=500, times=3)
    assert await backoff.run(reading.items(CONFIGMAPS, namespace)) == []
    assert rule.hits == 3


async def test_backoff_gives_up_as_unavailable(
    sandbox: Sandbox, backoff: Kube, namespace: str
) -> None:
    rule = sandbox.faults.fail("list", "configmaps", code=503)
    three = backoff.with_retry(RetryPolicy(attempts=3, initial=0.01, cap=0.02))
    with pytest.raises(Unavailable) as info:
        await three.run(reading.items(CONFIGMAPS, namespace))
    assert info.value.status == 503
    assert "injected fault" in info.value.message
    assert rule.hits == 3


async def test_backoff_retries_a_conflict_only_where_none_can_happen(
    sandbox: Sandbox, backoff: Kube, namespace: str
) -> None:
    obj = await backoff.run(
        writing.create(
            POLECATS,
            {
                "apiVersion": POLECATS.api_version,
                "kind": POLECATS.kind,
                "metadata": {"name": "p", "namespace": namespace},
                "spec": {"rig": "r"},
            },
        )
    )
    # Unguarded merge patch: a 409 is the server's hiccup, retried.
    rule = sandbox.faults.fail("patch", "polecats", code=409, times=1)
    await backoff.run(
        patching.merge(POLECATS, "p", {"metadata": {"labels": {"a": "1"}}}, namespace)
    )
    assert rule.hits == 1
    # Guarded by a resourceVersion: a 409 is an answer, raised at once.
    sandbox.faults.clear()
    rule = sandbox.faults.fail("patch", "polecats", code=409, times=1)
    guarded = patching.with_version({"metadata": {"labels": {"a": "2"}}}, "1")
    with pytest.raises(Conflict):
        await backoff.run(patching.merge(POLECATS, "p", guarded, namespace))
    assert rule.hits == 1
    assert obj["metadata"]["name"] == "p"


async def test_no_retry_leaves_retrying_to_temporal(
    sandbox: Sandbox, kube: Kube, namespace: str
) -> None:
    rule = sandbox.faults.fail("create", "configmaps", code=500)
    with pytest.raises(Unavailable):
        await kube.run(writing.create(CONFIGMAPS, configmap("once"), namespace))
    assert rule.hits == 1


def test_fail_fast_turns_off_urllib3_retries(
    sandbox: Sandbox, fail_fast: Kube, namespace: str
) -> None:
    # A GET: urllib3 would honour Retry-After and try again on its own by default.
    rule = sandbox.faults.fail("list", "configmaps", code=429, retry_after=1, times=1)
    with pytest.raises(Unavailable) as info:
        fail_fast.run_sync(reading.items(CONFIGMAPS, namespace))
    assert rule.hits == 1
    assert info.value.retry_after == 1.0
