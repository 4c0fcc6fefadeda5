"""The official client as a transport: its kubeconfig loader (every auth method kubectl has:
exec plugins, auth providers, token refresh), its TLS and proxies. Imported only by a client
that needs it (see client.connect's `lean`), because importing it loads ~1,000 model classes.
"""

from __future__ import annotations

import weakref
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from gastown.config.errors import ConfigError
from gastown.config.kube import KubeSettings
from gastown.kube.calls import Request
from gastown.kube.credentials import Credentials
from gastown.kube.retry import NO_RETRY, RetryPolicy


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
    api = k8s.ApiClient(configuration=cfg)
    # The official client closes its thread pool when it goes, not its connections: close
    # them too, or each socket left to the garbage collector is a ResourceWarning.
    weakref.finalize(api, api.rest_client.pool_manager.clear)
    return api


class Official:
    """Requests through an official ApiClient's transport, without its model classes."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api

    def call(self, request: Request) -> urllib3.BaseHTTPResponse:
        headers = dict(request.headers)
        if request.content_type:
            headers["Content-Type"] = request.content_type
        headers.setdefault("Accept", "application/json")
        method, url, hdrs, body, post = self.api.param_serialize(
            request.method,
            request.path,
            query_params=list(request.query),
            header_params=headers,
            body=request.body,
            auth_settings=["BearerToken"],
        )
        resp: Any = self.api.call_api(
            method, url, hdrs, body, post, _request_timeout=request.timeout
        )
        response: urllib3.BaseHTTPResponse = resp.response
        return response

    def credentials(self) -> Credentials:
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
