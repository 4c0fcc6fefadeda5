"""Watch streams against the sandbox API server: decoded events, bounds, abort from elsewhere."""

from __future__ import annotations

import threading
from typing import Any

from gastown.kube import CONFIGMAPS, Kube, reading, watching, writing


def configmap(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": "v"},
    }


def test_the_watch_request_is_bounded_on_both_sides() -> None:
    req = watching.request(CONFIGMAPS, "ns", timeout_seconds=240, bookmarks=True, read_slack=30)
    assert ("timeoutSeconds", "240") in req.query
    assert ("allowWatchBookmarks", "true") in req.query
    assert req.timeout == (watching.CONNECT_SECONDS, 270)
    assert req.read == "stream"


def test_a_stream_aborted_from_another_thread_ends_at_once(kube: Kube, namespace: str) -> None:
    """The reader is blocked on a watch the server would keep open for ten minutes; abort
    unblocks it without waiting for that, and the stream yielded the API's JSON meanwhile."""
    kube.run_sync(writing.create(CONFIGMAPS, configmap(namespace, "before")))
    listed = kube.run_sync(reading.listing(CONFIGMAPS, namespace))
    version = str(listed["metadata"]["resourceVersion"])
    assert [cm["metadata"]["name"] for cm in listed["items"]] == ["before"]

    stream = watching.WatchStream(
        kube, watching.request(CONFIGMAPS, namespace, resource_version=version, timeout_seconds=600)
    )
    assert stream.connect()
    seen: list[tuple[str, str]] = []
    got_one = threading.Event()
    ended = threading.Event()

    def read() -> None:
        for kind, obj in stream.events():
            seen.append((kind, obj["metadata"]["name"]))
            got_one.set()
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    kube.run_sync(writing.create(CONFIGMAPS, configmap(namespace, "after")))
    assert got_one.wait(30), "the watch delivered no event"
    assert stream.open
    stream.abort()
    assert ended.wait(30), "abort did not end the reader"
    reader.join(30)
    assert seen == [("ADDED", "after")]
    assert not stream.open


def test_a_stream_aborted_before_it_opens_does_not_open(kube: Kube, namespace: str) -> None:
    stream = watching.WatchStream(kube, watching.request(CONFIGMAPS, namespace, timeout_seconds=60))
    stream.abort()
    assert stream.connect() is False
    assert list(stream.events()) == []
    assert not stream.open
