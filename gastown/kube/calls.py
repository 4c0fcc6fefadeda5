"""What one API call is, and what an operation is: a sans-I/O generator of calls.

Every operation in this package (read, patch, add a finalizer, record an Event) is written once
as a generator that yields `Request`s and receives their answers (or has the KubeError thrown
into it). `Kube.run` drives it on the event loop, `Kube.run_sync` in the calling thread: the
async watcher and activities and the synchronous CLI share one implementation of each.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

T = TypeVar("T")

JSON = dict[str, Any]
# An operation: yields requests, is sent each answer, returns its result.
Op = Generator["Request", Any, T]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Request:
    """One HTTP call. `read` says what the caller gets back: the JSON document (default), the
    body as text (logs), or the open response to stream (watches, followed logs)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str | None = None
    read: Literal["json", "text", "stream"] = "json"
    # A 409 here can only come from a flaky server (a write without a resourceVersion):
    # retry it like a 5xx when the policy retries at all.
    conflict_is_flaky: bool = False
    # Seconds for the whole call, or (connect, read) for a stream that stays open.
    timeout: float | tuple[float, float] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def query(**params: str | int | bool | None) -> tuple[tuple[str, str], ...]:
    """Query parameters without the unset ones; booleans as the API spells them."""
    out = []
    for key, value in params.items():
        if value is None or value == "":
            continue
        out.append((key, str(value).lower() if isinstance(value, bool) else str(value)))
    return tuple(out)


def one(request: Request) -> Op[Any]:
    """The operation that is just this call."""
    answer = yield request
    return answer


def bounded(op: Op[T], seconds: float) -> Op[T]:
    """The same operation with every call it makes limited to `seconds` (unless the call
    sets its own limit). For callers whose correctness depends on time, like the Lease
    renewal: a call that hangs must fail in time for the caller to act on it."""
    try:
        request = next(op)
        while True:
            try:
                answer = yield replace(request, timeout=request.timeout or seconds)
            except BaseException as error:  # handed to the operation, which may catch it
                request = op.throw(error)
            else:
                request = op.send(answer)
    except StopIteration as stop:
        result: T = stop.value
        return result
