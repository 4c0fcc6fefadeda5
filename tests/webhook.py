"""A webhook on loopback over real TLS: records each POST, so notify can be seen end to end.

Its certificate is the sandbox's self-signed one; the caller makes it trusted by pointing
SSL_CERT_FILE at it (what Python's default HTTPS context reads on every connection).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gastown.sandbox.tls import ensure_certificate, server_context


@dataclass
class Webhook:
    base: str  # https://127.0.0.1:<port>
    # (path, JSON body, Authorization header or "")
    posts: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)


@contextmanager
def https_webhook(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    cert, key = ensure_certificate(directory)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    posts: list[tuple[str, dict[str, Any], str]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            posts.append((self.path, body, self.headers.get("Authorization", "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:  # quiet
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.socket = server_context(cert, key).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Webhook(f"https://127.0.0.1:{server.server_address[1]}", posts)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
