"""A fake OAuth token endpoint on loopback that rotates refresh tokens as the real one does.

Each refresh token it issued works once: the refresh answers a new access token, a new refresh
token and `expires_in`, and the old refresh token then gets 400 `invalid_grant`. It records
every request (so a test can assert exactly one refresh), can be told to refuse everything
(invalid_grant) or to fail the next requests with 500, and can run a hook while a refresh is
being answered (a concurrent write to the Secret, say). Plain http: the client allows it only
to a loopback host.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CLIENT_ID = "test-client-0001"


@dataclass
class TokenEndpoint:
    url: str
    client_id: str = CLIENT_ID
    expires_in: int = 28800
    # What the endpoint got, in order: the JSON bodies (tokens included: tests only).
    requests: list[dict[str, Any]] = field(default_factory=list)
    reject_all: bool = False
    fail_next: int = 0  # answer this many requests with 500 first
    # Called (in the server's thread) with the refresh token before a good answer is sent.
    on_refresh: Callable[[str], None] | None = None
    issued: list[tuple[str, str]] = field(default_factory=list)  # (access, refresh) handed out
    _valid: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    def seed(self, refresh_token: str) -> None:
        """A refresh token the endpoint accepts (once), as if issued by a `claude /login`."""
        with self._lock:
            self._valid.add(refresh_token)

    def refreshes(self) -> int:
        """Refresh requests received (answered or not)."""
        return sum(1 for r in self.requests if r.get("grant_type") == "refresh_token")

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, {"error": "server_error"}
            if body.get("grant_type") != "refresh_token":
                return 400, {"error": "unsupported_grant_type"}
            if body.get("client_id") != self.client_id:
                return 401, {"error": "invalid_client"}
            token = body.get("refresh_token")
            if self.reject_all or not isinstance(token, str) or token not in self._valid:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": f"refresh token {token} is invalid",
                }
            self._valid.discard(token)
            self._count += 1
            access = f"fake-access-{self._count:04d}"
            refresh = f"fake-refresh-{self._count:04d}"
        if self.on_refresh is not None:
            self.on_refresh(token)
        with self._lock:
            self._valid.add(refresh)
            self.issued.append((access, refresh))
        return 200, {
            "token_type": "Bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.expires_in,
            "scope": "user:inference user:profile",
        }


@contextmanager
def token_endpoint(**options: Any) -> Iterator[TokenEndpoint]:
    """The endpoint on http://127.0.0.1:<port>/v1/oauth/token, for the block's duration."""
    holder: list[TokenEndpoint] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                body = {}
            if self.path.split("?")[0] != "/v1/oauth/token":
                status, answer = 404, {"error": "not_found"}
            else:
                status, answer = holder[0].answer(body if isinstance(body, dict) else {})
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *_: Any) -> None:  # quiet
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint = TokenEndpoint(f"http://127.0.0.1:{server.server_address[1]}/v1/oauth/token")
    for key, value in options.items():
        setattr(endpoint, key, value)
    holder.append(endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
