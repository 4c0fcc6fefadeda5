"""Watch semantics through the official client's `watch.Watch` (and raw streams)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client, watch

from gastown.sandbox import Sandbox


def events(
    core: client.CoreV1Api, namespace: str, limit: int, **kw: Any
) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of up to `limit` raw events, bounded by timeoutSeconds."""
    out = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=5, **kw):
        obj = ev["raw_object"]
        out.append(
            (ev["type"], obj["metadata"].get("name", ""), obj["metadata"]["resourceVersion"])
        )
        if len(out) >= limit:
            w.stop()
    return out


def test_watch_from_resource_version_in_order(core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "v"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    core.delete_namespaced_config_map("a", namespace)
    got = events(core, namespace, 4, resource_version=start)
    assert [(t, n) for t, n, _ in got] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    versions = [int(rv) for _, _, rv in got]
    assert versions == sorted(versions)
    assert len(set(versions)) == 4


def test_watch_without_version_starts_with_synthetic_adds(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "x"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "y"}})
    got = events(core, namespace, 2)
    assert [(t, n) for t, n, _ in got] == [("ADDED", "x"), ("ADDED", "y")]


def test_watch_selector_transitions(core: client.CoreV1Api, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "s"}})
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"on": "yes"}}})
    core.patch_namespaced_config_map("s", namespace, {"metadata": {"labels": {"on": None}}})
    got = events(core, namespace, 2, resource_version=start, label_selector="on=yes")
    assert [(t, n) for t, n, _ in got] == [("ADDED", "s"), ("DELETED", "s")]


def test_watch_timeout_seconds_ends_stream(core: client.CoreV1Api, namespace: str) -> None:
    began = time.monotonic()
    out = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=core.list_namespaced_config_map(namespace).metadata.resource_version,
            timeout_seconds=1,
        )
    )
    elapsed = time.monotonic() - began
    assert out == []
    assert 0.9 <= elapsed < 4


def test_bookmarks_when_allowed(sandbox: Sandbox, core: client.CoreV1Api, namespace: str) -> None:
    assert sandbox.config.bookmark_interval < 1  # real apiservers send them about once a minute
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    resp = core.list_namespaced_config_map(
        namespace,
        watch=True,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
        _preload_content=False,
    )
    lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert lines, "expected at least one bookmark within 2s (interval 0.5s)"
    assert {e["type"] for e in lines} == {"BOOKMARK"}
    assert int(lines[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    assert lines[0]["object"]["kind"] == "ConfigMap"


def test_too_old_resource_version_is_410_error_event(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    old = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "after"}})
    sandbox.expire_history()
    resp = core.list_namespaced_config_map(
        namespace, watch=True, resource_version=old, timeout_seconds=5, _preload_content=False
    )
    lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0]["type"] == "ERROR"
    assert lines[0]["object"]["code"] == 410
    assert lines[0]["object"]["reason"] == "Expired"
    with pytest.raises(client.ApiException) as info:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, namespace, resource_version=old, timeout_seconds=5
            )
        )
    assert info.value.status == 410  # the official client raises on the ERROR event


def test_history_window_is_bounded(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    assert sandbox.store is not None
    window = sandbox.config.history
    old = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "churn"}})
    for i in range(window + 5):
        core.patch_namespaced_config_map("churn", namespace, {"data": {"i": str(i)}})
    resp = core.list_namespaced_config_map(
        namespace, watch=True, resource_version=old, timeout_seconds=5, _preload_content=False
    )
    first = json.loads(resp.read().splitlines()[0])
    assert first["type"] == "ERROR"
    assert first["object"]["code"] == 410
