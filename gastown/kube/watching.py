"""Watching one object or a selection: the stream of (type, object) events, in one thread.

For the CLI's `--wait` (one Polecat by field selector, `watch`) and the worker's pod informer
(`WatchStream`: a long watch read by a thread of its own and aborted from the event loop).
Every watch call is bounded twice: the server ends it after `timeoutSeconds`, and the client
gives up reading a little later, so a connection that died silently is noticed. A watch
ERROR event is raised as its KubeError (Gone for an expired resourceVersion), so the caller
re-lists and watches again; a broken stream is raised as `Unavailable`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

from gastown.kube.calls import JSON, Request, query
from gastown.kube.client import Kube
from gastown.kube.errors import from_status, translate
from gastown.kube.resources import Resource

CONNECT_SECONDS = 10  # to open the watch; the read timeout is the watch's own bound plus slack


def request(
    resource: Resource,
    namespace: str | None = None,
    *,
    field_selector: str | None = None,
    label_selector: str | None = None,
    resource_version: str | None = None,
    timeout_seconds: int = 30,
    bookmarks: bool = False,
    read_slack: float = 5,
) -> Request:
    """The watch call: the server ends it after `timeout_seconds`; the client stops reading
    `read_slack` seconds later if the server went silent."""
    return Request(
        "GET",
        resource.path(namespace),
        query(
            watch=True,
            fieldSelector=field_selector,
            labelSelector=label_selector,
            resourceVersion=resource_version,
            timeoutSeconds=timeout_seconds,
            allowWatchBookmarks=bookmarks or None,
        ),
        read="stream",
        timeout=(CONNECT_SECONDS, timeout_seconds + read_slack),
    )


class WatchStream:
    """One watch call: `open` and iterate in one thread; `abort` from any other.

    Abort shuts the socket down instead of closing the response: `close()` waits for the lock
    the blocked reader holds, i.e. until the server ends the watch (minutes), and the caller
    is an event loop. After a shutdown the blocked read returns at once, the iteration ends
    quietly, and the reader closes the response (a broken or abandoned stream never goes back
    into the pool).
    """

    def __init__(self, kube: Kube, request: Request) -> None:
        self.kube = kube
        self.request = request
        self._lock = threading.Lock()
        self._response: Any = None
        self._aborted = False

    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def open(self) -> bool:
        """The response is open and a reader is (or is about to be) blocked on it."""
        return self._response is not None

    def connect(self) -> bool:
        """Send the watch call in this thread; KubeError if refused. False: already aborted
        (the response, if any, is closed)."""
        resp = self.kube.send(self.request)
        with self._lock:
            if not self._aborted:
                self._response = resp
                return True
        _discard(resp)
        return False

    def events(self) -> Iterator[tuple[str, JSON]]:
        """The decoded events until the server ends the watch or it is aborted; an ERROR
        event is raised as its KubeError, a broken stream as Unavailable."""
        resp = self._response
        if resp is None:
            return
        try:
            for line in resp:
                if self._aborted:
                    return
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = str(event.get("type"))
                obj = event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 500)
                    raise from_status(code, obj.get("reason"), json.dumps(obj))
                yield kind, obj
        except Exception as exc:
            if self._aborted:
                return
            err = translate(exc)
            if err is None:
                raise
            if err is exc:
                raise
            raise err from exc
        finally:
            self._release(resp)

    def abort(self) -> None:
        """Stop the reader at once, from any thread; never blocks."""
        with self._lock:
            self._aborted = True
            resp = self._response
        conn = getattr(resp, "connection", None) if resp is not None else None
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _release(self, resp: Any) -> None:
        with self._lock:
            if self._response is resp:
                self._response = None
        _discard(resp)


def _discard(resp: Any) -> None:
    """Closed, not returned to the pool half-read (a watch never ends by itself)."""
    with contextlib.suppress(Exception):
        resp.close()
    with contextlib.suppress(Exception):
        resp.release_conn()


def watch(kube: Kube, request: Request) -> Iterator[tuple[str, JSON]]:
    """Events of one watch call (a `request(...)`) until the server ends it after its
    `timeoutSeconds` or the caller stops; from its resourceVersion on, else from the current
    state (ADDED for each object first)."""
    stream = WatchStream(kube, request)
    stream.connect()
    yield from stream.events()  # closing this generator early closes the stream
