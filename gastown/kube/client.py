"""The one way to the API server: build the client, send calls, translate errors, retry.

`connect` turns resolved settings (gastown.config: kubeconfig, context, or in-cluster) into a
`Kube`; `Kube.run` / `Kube.run_sync` drive an operation (see calls.py) with the `RetryPolicy`
the caller chose. Requests go through a transport: the official client's (its auth, TLS,
token refresh and proxies; official.py) or, with `lean=True` and credentials it can read,
urllib3 directly (direct.py), so that a process (the watcher) never imports the official
client. Either way bodies go out and come back as the API's own JSON, never as the official
client's model classes, which is what every caller wants and costs a fraction of the CPU
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from gastown.config.kube import KubeSettings
from gastown.kube import observe
from gastown.kube.calls import Op, Request
from gastown.kube.credentials import Credentials
from gastown.kube.errors import KubeError, from_status, translate
from gastown.kube.retry import NO_RETRY, RetryPolicy
from gastown.kube.tracing import call_span, record_failure, record_status

if TYPE_CHECKING:
    import urllib3
    from kubernetes.client import ApiClient
    from opentelemetry.trace import Tracer

T = TypeVar("T")

# ApiClient: for type hints only (the CLI's session); importing it at run time is official.py's.
__all__ = [
    "ApiClient",
    "Credentials",
    "Kube",
    "Transport",
    "api_client",
    "connect",
    "from_kubeconfig",
]


@runtime_checkable
class Transport(Protocol):
    """Sends one request (one try) and says who it is to the server."""

    def call(self, request: Request) -> urllib3.BaseHTTPResponse: ...

    def credentials(self) -> Credentials: ...


def api_client(settings: KubeSettings, retry: RetryPolicy = NO_RETRY) -> ApiClient:
    """A configured official-client ApiClient for these settings (urllib3 retries per policy)."""
    from gastown.kube import official

    return official.api_client(settings, retry)


def connect(settings: KubeSettings, retry: RetryPolicy = NO_RETRY, *, lean: bool = False) -> Kube:
    """A client for these settings. `lean`: without the official client when the credentials
    allow it (token, client certificate, basic auth; not exec plugins or auth providers)."""
    if lean:
        from gastown.kube import credentials, direct

        try:
            source = credentials.load(settings)
        except credentials.Unsupported:
            pass
        else:
            return Kube(direct.Direct(source, retry.transport_retries), retry)
    return Kube(api_client(settings, retry), retry)


def from_kubeconfig(
    path: str, retry: RetryPolicy = NO_RETRY, context: str | None = None, *, lean: bool = False
) -> Kube:
    """A client for one kubeconfig file (tests, the dev demo)."""
    return connect(KubeSettings(path, context, "default", in_cluster=False), retry, lean=lean)


@dataclass
class Kube:
    """An API client with a retry policy; every call in the project goes through `send`.

    `api` is a Transport, or an official ApiClient (wrapped in official.Official)."""

    api: Any
    retry: RetryPolicy = NO_RETRY
    # Spans for each call inside a trace (gastown/kube/tracing.py); None: none at all.
    tracer: Tracer | None = field(default=None, repr=False)
    transport: Transport = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.api, Transport):
            self.transport = self.api
        else:
            from gastown.kube.official import Official

            self.transport = Official(self.api)

    # ---------------------------------------------------------------- one request
    def send(self, request: Request) -> Any:
        """One try of one request, in the calling thread; KubeError on any failure."""
        if self.tracer is None:
            return self._answer(request, self._call(request))
        with call_span(self.tracer, request) as span:
            try:
                resp = self._call(request)
            except KubeError as err:
                if err.status is None:
                    record_failure(span, err)
                else:
                    record_status(span, err.status)
                raise
            record_status(span, resp.status)
            return self._answer(request, resp)

    def _call(self, request: Request) -> urllib3.BaseHTTPResponse:
        try:
            return self.transport.call(request)
        except Exception as exc:
            err = translate(exc)
            if err is None:
                raise
            observe.api_error(request, err.status)
            raise err from exc

    def _answer(self, request: Request, resp: urllib3.BaseHTTPResponse) -> Any:
        if not 200 <= resp.status <= 299:
            data = resp.data
            observe.api_error(request, resp.status)
            raise from_status(resp.status, resp.reason, data, resp.headers)
        if request.read == "stream":
            return resp
        data = resp.data
        if request.read == "text":
            return data.decode(errors="replace")
        return json.loads(data) if data else {}

    async def send_async(self, request: Request) -> Any:
        return await asyncio.to_thread(self.send, request)

    # ---------------------------------------------------------------- operations
    def run_sync(self, op: Op[T]) -> T:
        """Drive an operation in this thread (the CLI)."""
        step = _Step(op, self.retry)
        while (request := step.request) is not None:
            try:
                answer = self.send(request)
            except KubeError as err:
                time.sleep(step.failed(err))
            else:
                step.answered(answer)
        return step.result

    async def run(self, op: Op[T]) -> T:
        """Drive an operation off the event loop (the watcher, the activities)."""
        step = _Step(op, self.retry)
        while (request := step.request) is not None:
            try:
                answer = await self.send_async(request)
            except KubeError as err:
                await asyncio.sleep(step.failed(err))
            else:
                step.answered(answer)
        return step.result

    def with_retry(self, retry: RetryPolicy) -> Kube:
        """The same connection with another policy (e.g. few tries for the Lease). urllib3's
        own retries were fixed when the connection was built (`connect`)."""
        return Kube(self.api, retry, self.tracer)

    def traced(self, tracer: Tracer | None) -> Kube:
        """The same connection, each call a span in the caller's trace (None: no spans)."""
        return Kube(self.api, self.retry, tracer)

    def credentials(self) -> Credentials:
        """The resolved credentials (kubeconfig or service account), so kopf talks to the same
        cluster as the same user."""
        return self.transport.credentials()


class _Step(Generic[T]):
    """Where an operation stands: the request to send next (None when it has finished), how
    often that request was tried, and the operation's result. Both drivers share it, so the
    retry policy is applied in exactly one place."""

    def __init__(self, op: Op[T], retry: RetryPolicy) -> None:
        self.op = op
        self.retry = retry
        self.request: Request | None = None
        self.result: T
        self._advance(lambda: next(op))

    def _advance(self, resume: Callable[[], Request]) -> None:
        self.attempt = 0
        self.backoff = self.retry.backoff()
        try:
            self.request = resume()
        except StopIteration as stop:
            self.request = None
            self.result = stop.value

    def answered(self, answer: Any) -> None:
        self._advance(lambda: self.op.send(answer))

    def failed(self, error: KubeError) -> float:
        """Seconds to wait before sending the same request again; 0 once the error has been
        handed to the operation (which may catch it and go on, or raise it)."""
        assert self.request is not None
        delay = self.retry.delay(
            error, self.attempt, self.backoff, conflict_is_flaky=self.request.conflict_is_flaky
        )
        if delay is not None:
            self.attempt += 1
            return delay
        self._advance(lambda: self.op.throw(error))
        return 0.0
