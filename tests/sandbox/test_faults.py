"""Fault injection: deterministic failures, latency, watch cuts, expiry, pause, admin HTTP."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client, watch

from gastown.sandbox import Sandbox
from gastown.sandbox.faults import FaultRule


def outcomes(core: client.CoreV1Api, namespace: str, n: int) -> list[int]:
    out = []
    for _ in range(n):
        try:
            core.list_namespaced_config_map(namespace)
            out.append(200)
        except client.ApiException as exc:
            out.append(exc.status)
    return out


def test_share_of_failures_is_deterministic_per_seed(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.faults.fail("list", "configmaps", share=0.5, code=500, seed=7)
    first = outcomes(core, namespace, 40)
    sandbox.faults.clear()
    sandbox.faults.fail("list", "configmaps", share=0.5, code=500, seed=7)
    second = outcomes(core, namespace, 40)
    assert first == second
    assert 8 < first.count(500) < 32
    assert set(first) == {200, 500}
    sandbox.faults.clear()
    assert set(outcomes(core, namespace, 5)) == {200}


def test_only_matching_verb_and_resource_fail(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.faults.fail("create", "secrets", code=500)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "fine"}})
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}})
    assert info.value.status == 500
    assert json.loads(info.value.body)["kind"] == "Status"
    assert core.list_namespaced_secret(namespace).items is not None


def test_429_carries_retry_after(sandbox: Sandbox, core: client.CoreV1Api, namespace: str) -> None:
    # POST: urllib3 itself honours Retry-After on idempotent verbs and would retry a GET.
    sandbox.faults.fail("create", "configmaps", code=429, retry_after=3, times=1)
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    assert info.value.status == 429
    assert info.value.headers["Retry-After"] == "3"
    assert json.loads(info.value.body)["details"]["retryAfterSeconds"] == 3
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})  # times=1


def test_429_on_reads_is_retried_by_the_client(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    rule = sandbox.faults.fail("list", "configmaps", code=429, retry_after=1, times=1)
    began = time.monotonic()
    core.list_namespaced_config_map(namespace)
    assert rule.hits == 1
    assert time.monotonic() - began >= 1  # the client waited Retry-After, then succeeded


def test_injected_conflict(
    sandbox: Sandbox, custom: client.CustomObjectsApi, namespace: str
) -> None:
    sandbox.faults.fail("patch", "widgets/status", code=409, times=1)
    custom.create_namespaced_custom_object(
        "test.gastown.io",
        "v1alpha1",
        namespace,
        "widgets",
        {
            "apiVersion": "test.gastown.io/v1alpha1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"color": "red"},
        },
    )
    with pytest.raises(client.ApiException) as info:
        custom.patch_namespaced_custom_object_status(
            "test.gastown.io", "v1alpha1", namespace, "widgets", "w", {"status": {"phase": "x"}}
        )
    assert info.value.status == 409
    custom.patch_namespaced_custom_object(
        "test.gastown.io", "v1alpha1", namespace, "widgets", "w", {"spec": {"size": 5}}
    )


def test_latency(sandbox: Sandbox, core: client.CoreV1Api, namespace: str) -> None:
    sandbox.faults.add(FaultRule(verb="list", resource="configmaps", code=None, latency=0.3))
    began = time.monotonic()
    core.list_namespaced_config_map(namespace)
    assert time.monotonic() - began >= 0.3


def test_cut_watch_after_events(sandbox: Sandbox, core: client.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i}"}})
    sandbox.faults.cut_watches("configmaps", after_events=2)
    got = list(watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=10))
    assert len(got) == 2


def test_cut_watch_after_seconds(sandbox: Sandbox, core: client.CoreV1Api, namespace: str) -> None:
    sandbox.faults.cut_watches("configmaps", after_seconds=0.5)
    began = time.monotonic()
    list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=core.list_namespaced_config_map(namespace).metadata.resource_version,
            timeout_seconds=30,
        )
    )
    assert time.monotonic() - began < 5


def test_next_watch_expires(sandbox: Sandbox, core: client.CoreV1Api, namespace: str) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    sandbox.faults.expire_next_watch()
    with pytest.raises(client.ApiException) as info:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5
            )
        )
    assert info.value.status == 410
    assert (
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=1
            )
        )
        == []
    )


def test_pause_holds_requests_until_resume(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.pause()
    done = threading.Event()
    result: list[Any] = []

    def call() -> None:
        result.append(core.list_namespaced_config_map(namespace))
        done.set()

    t = threading.Thread(target=call)
    t.start()
    assert not done.wait(0.5)  # held while paused
    sandbox.resume()
    assert done.wait(10)
    t.join()
    assert result[0].items == []


def test_admin_endpoint_configures_faults(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    cfg = core.api_client.configuration
    token = f"Bearer {sandbox.config.token}"
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)

    def admin(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(  # noqa: S310
            f"{sandbox.url}/_sandbox/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    state = admin(
        "POST",
        "faults",
        {"rules": [{"verb": "list", "resource": "configmaps", "code": 500, "share": 1.0}]},
    )
    assert state["rules"][0]["code"] == 500
    assert outcomes(core, namespace, 2) == [500, 500]
    admin("DELETE", "faults")
    assert outcomes(core, namespace, 1) == [200]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(  # noqa: S310
            urllib.request.Request(  # noqa: S310
                f"{sandbox.url}/_sandbox/faults"
            ),
            context=ctx,
            timeout=10,
        )
    assert info.value.code == 401  # the admin endpoint needs the token too
    admin("POST", "pause")
    assert sandbox.faults.paused
    admin("POST", "resume")
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "victim"},
            "spec": {
                "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "60"]}],
                "terminationGracePeriodSeconds": 1,
            },
        },
    )
    from tests.sandbox.waits import wait_until

    wait_until(
        lambda: core.read_namespaced_pod("victim", namespace).status.phase == "Running",
        what="victim running",
    )
    evicted = admin("POST", "evict", {"namespace": namespace, "name": "victim"})
    assert evicted["status"]["reason"] == "Evicted"
    assert core.read_namespaced_pod("victim", namespace).status.phase == "Failed"


def test_close_watches_ends_client_streams(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    resp = core.list_namespaced_config_map(
        namespace, watch=True, resource_version=rv, timeout_seconds=30, _preload_content=False
    )
    ended = threading.Event()

    def drain() -> None:
        resp.read()
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    assert not ended.wait(0.3)
    sandbox.close_watches()
    assert ended.wait(5)
    # The sandbox's own kubelet keeps watching: pods still run afterwards.
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "after"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
            },
        },
    )
    from tests.sandbox.waits import wait_until

    wait_until(
        lambda: core.read_namespaced_pod("after", namespace).status.phase == "Succeeded",
        what="pod ran after watches were cut",
    )
