"""Requests straight through urllib3, without the official client (see credentials.py for why
and when): the same wire calls `Kube` makes through the official client's transport, with
the credentials read by `credentials.load`.
"""

from __future__ import annotations

import json
import os
import ssl
import weakref
from typing import Any
from urllib.parse import urlencode

import urllib3

from gastown.kube.calls import Request
from gastown.kube.credentials import Credentials, Source


class Direct:
    """One connection pool to one API server, as one user."""

    def __init__(self, source: Source, transport_retries: int | None = None) -> None:
        self.source = source
        creds = source.current()
        self.server = creds.server
        self.retries: urllib3.Retry | int | None = (
            urllib3.Retry.DEFAULT if transport_retries is None else transport_retries
        )
        self.pool = urllib3.PoolManager(
            # As many kept connections as the official client keeps (cpu count x 5): enough
            # for every thread of asyncio's default executor, so none is discarded under load.
            maxsize=(os.cpu_count() or 1) * 5,
            cert_reqs=ssl.CERT_NONE if creds.insecure else ssl.CERT_REQUIRED,
            ca_certs=creds.ca_path,
            cert_file=creds.certificate_path,
            key_file=creds.private_key_path,
        )
        # Close the kept connections when this client goes: urllib3 does not on its own, and
        # a socket left to the garbage collector is a ResourceWarning (as the official
        # client's ApiClient closes its pool on deletion).
        weakref.finalize(self, self.pool.clear)

    def credentials(self) -> Credentials:
        return self.source.current()

    def call(self, request: Request) -> urllib3.BaseHTTPResponse:
        """One try of one request; urllib3 raises its own errors (translated by the caller)."""
        creds = self.source.current()
        headers = dict(request.headers)
        headers.setdefault("Accept", "application/json")
        if request.content_type:
            headers["Content-Type"] = request.content_type
        if creds.token:
            headers["Authorization"] = f"{creds.scheme or 'Bearer'} {creds.token}"
        elif creds.username:
            headers.update(urllib3.make_headers(basic_auth=f"{creds.username}:{creds.password}"))
        body = None
        if request.body is not None:
            body = json.dumps(request.body).encode()
            headers.setdefault("Content-Type", "application/json")
        url = self.server + request.path
        if request.query:
            url += "?" + urlencode(request.query)
        kwargs: dict[str, Any] = {}
        if isinstance(request.timeout, tuple):  # (connect, read), as the official client takes
            kwargs["timeout"] = urllib3.Timeout(connect=request.timeout[0], read=request.timeout[1])
        elif request.timeout:
            kwargs["timeout"] = urllib3.Timeout(total=request.timeout)
        return self.pool.request(
            request.method,
            url,
            body=body,
            headers=headers,
            preload_content=request.read != "stream",
            retries=self.retries,
            **kwargs,
        )
