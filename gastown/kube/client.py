"""The one way to the API server: build the client, send calls, translate errors, retry.

`connect` turns resolved settings (gastown.config: kubeconfig, context, or in-cluster) into a
`Kube`; `Kube.run` / `Kube.run_sync` drive an operation (see calls.py) with the `RetryPolicy`
the caller chose. Requests go through the official client's transport (its auth, TLS, token
refresh and proxies) but skip its model classes: bodies go out and come back as the API's own
JSON, which is what every caller wants and costs a fraction of the CPU (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from gastown.config.errors import ConfigError
from gastown.config.kube import KubeSettings
from gastown.kube.calls import Op, Request
from gastown.kube.errors import KubeError, from_status, translate
from gastown.kube.retry import NO_RETRY, RetryPolicy

T = TypeVar("T")

ApiClient = k8s.ApiClient


def api_client(settings: KubeSettings, retry: RetryPolicy = NO_RETRY) -> k8s.ApiClient:
    """A configured official-client ApiClient for these settings (urllib3 retries per policy)."""
    cfg = k8s.Configuration()
    try:
        if settings.in_cluster:
            k8s_config.load_incluster_config(client_configuration=cfg)
        else:
            k8s_config.load_kube_config(
                config_file=settings.kubeconfig,
                context=settings.context,
                client_configuration=cfg,
            )
    except k8s_config.ConfigException as exc:
        raise ConfigError(f"cannot load cluster configuration: {exc}") from exc
    if retry.transport_retries is not None:
        cfg.retries = retry.transport_retries
    return k8s.ApiClient(configuration=cfg)


def connect(settings: KubeSettings, retry: RetryPolicy = NO_RETRY) -> Kube:
    return Kube(api_client(settings, retry), retry)


def from_kubeconfig(path: str, retry: RetryPolicy = NO_RETRY, context: str | None = None) -> Kube:
    """A client for one kubeconfig file (tests, the dev demo)."""
    return connect(KubeSettings(path, context, "default", in_cluster=False), retry)


@dataclass(frozen=True)
class Credentials:
    """How the client reaches the cluster, for a second client (kopf) to use the same."""

    server: str
    ca_path: str | None
    insecure: bool
    scheme: str | None
    token: str | None
    certificate_path: str | None
    private_key_path: str | None
    username: str | None
    password: str | None


@dataclass
class Kube:
    """An API client with a retry policy; every call in the project goes through `send`."""

    api: k8s.ApiClient
    retry: RetryPolicy = NO_RETRY

    # ---------------------------------------------------------------- one request
    def send(self, request: Request) -> Any:
        """One try of one request, in the calling thread; KubeError on any failure."""
        headers = dict(request.headers)
        if request.content_type:
            headers["Content-Type"] = request.content_type
        headers.setdefault("Accept", "application/json")
        try:
            method, url, hdrs, body, post = self.api.param_serialize(
                request.method,
                request.path,
                query_params=list(request.query),
                header_params=headers,
                body=request.body,
                auth_settings=["BearerToken"],
            )
            resp = self.api.call_api(
                method, url, hdrs, body, post, _request_timeout=request.timeout
            )
        except Exception as exc:
            err = translate(exc)
            if err is None:
                raise
            raise err from exc
        if not 200 <= resp.status <= 299:
            data = resp.read()
            raise from_status(resp.status, resp.reason, data, resp.headers)
        if request.read == "stream":
            return resp.response
        data = resp.read()
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
        return Kube(self.api, retry)

    def credentials(self) -> Credentials:
        """The resolved credentials (kubeconfig or service account), so kopf talks to the same
        cluster as the same user."""
        cfg = self.api.configuration
        keys = cfg.api_key or {}
        token = keys.get("authorization") or keys.get("BearerToken")
        scheme = None
        if token and " " in token:
            scheme, token = token.split(" ", 1)
        return Credentials(
            server=cfg.host,
            ca_path=cfg.ssl_ca_cert,
            insecure=not cfg.verify_ssl,
            scheme=scheme or ("Bearer" if token else None),
            token=token,
            certificate_path=cfg.cert_file,
            private_key_path=cfg.key_file,
            username=cfg.username or None,
            password=cfg.password or None,
        )


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
