"""`gastown-operator codec-server`: Temporal's remote codec protocol, so that the Temporal UI
(and `temporal --codec-endpoint`) show payloads the payload codec encrypted.

The protocol (samples-go's codec-server README, samples-python's `encryption/codec_server.py`):
POST `…/encode` and `…/decode` with a `Payloads` message as protobuf JSON
(`{"payloads": [...]}`), answered in kind. The UI calls from the browser, so the server
answers CORS preflights for the one UI origin it is given, and for no other: a page on
another origin cannot read the answer. The UI sends the namespace in `X-Namespace`; with
`--namespace` the server decodes for those namespaces only. With `--auth-token-file` every
request must carry `Authorization: Bearer <token>` (the UI's "pass the user access token"
option, `temporal --codec-auth`, or a proxy in front that authenticates users).

The standard library's threading HTTP server is enough for two routes: the codec is pure
CPU, and no web framework joins the operator image for this.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from gastown.codec import AESGCMCodec

log = logging.getLogger("gastown.codecserver")

# The UI batches every payload of a history page into one request; Temporal's own payload
# limit is 2 MiB each, so a few dozen fit.
MAX_BODY_BYTES = 64 * 1024 * 1024
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


@dataclass(frozen=True)
class CodecServerOptions:
    codec: AESGCMCodec
    ui_origins: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    auth_token: str | None = field(default=None, repr=False)


class _Handler(BaseHTTPRequestHandler):
    server: _CodecHTTPServer
    protocol_version = "HTTP/1.1"
    # Seconds a connection may stay silent: a client that stalls mid-request frees its thread.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------------ answers
    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin and origin in self.server.options.ui_origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Vary", "Origin")

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, text: str) -> None:
        self._answer(status, (text + "\n").encode())

    # ------------------------------------------------------------------ routes
    def do_OPTIONS(self) -> None:
        self.send_response(204 if self.headers.get("Origin") else 200)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, b"ok\n")
        else:
            self._refuse(404, "not found: POST /encode or /decode")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        action = path.rsplit("/", 1)[-1]
        if action not in ("encode", "decode"):
            self._refuse(404, "not found: POST /encode or /decode")
            return
        options = self.server.options
        if options.auth_token is not None:
            given = self.headers.get("Authorization", "")
            expected = f"Bearer {options.auth_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                self._refuse(401, "unauthorized: send Authorization: Bearer <token>")
                return
        namespace = self.headers.get("X-Namespace", "")
        if options.namespaces and namespace not in options.namespaces:
            self._refuse(403, f"namespace {namespace[:253]!r} is not served here")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._refuse(411, "Content-Length is required")
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._refuse(413, f"body larger than {MAX_BODY_BYTES} bytes")
            return
        body = self.rfile.read(length)
        try:
            payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            self._refuse(400, f"body is not a Payloads JSON message: {exc}")
            return
        try:
            out = self._transform(action, payloads.payloads)
        except ValueError as exc:  # an unknown key ID, a payload that does not decrypt
            self._refuse(400, f"cannot {action}: {exc}")
            return
        answer = json_format.MessageToJson(Payloads(payloads=out))
        self._answer(200, answer.encode(), "application/json")

    def _transform(self, action: str, payloads: Sequence[Payload]) -> list[Payload]:
        codec = self.server.options.codec
        return codec.encode_sync(payloads) if action == "encode" else codec.decode_sync(payloads)


class _CodecHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], options: CodecServerOptions) -> None:
        self.options = options
        super().__init__(address, _Handler)


def make_server(host: str, port: int, options: CodecServerOptions) -> ThreadingHTTPServer:
    """The server, bound; `serve_forever()` runs it, `shutdown()` from another thread stops
    it. Binding errors (a port in use) raise OSError here, before anything is served."""
    return _CodecHTTPServer((host, port), options)


def describe(options: CodecServerOptions) -> str:
    """One line for the start log: what is served, never a key or the token."""
    return json.dumps(
        {
            "key_ids": options.codec.key_ids,
            "primary": options.codec.primary,
            "ui_origins": sorted(options.ui_origins),
            "namespaces": sorted(options.namespaces) or "all",
            "auth": "bearer token" if options.auth_token else "none",
        }
    )
