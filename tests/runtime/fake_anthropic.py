"""A scripted Anthropic Messages API on loopback, for driving the real Claude Code CLI.

The real `claude` binary is pointed here with ANTHROPIC_BASE_URL. Requests that carry the
agent's tools (the main conversation) are answered from a script chosen by how many tool
results the conversation already holds, so a retried request gets the same answer. Any other
request (titles, quota probes, token counts) gets a short harmless reply. Every request is
recorded so tests can assert on what the CLI sent (credentials header, prompt text).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = dict[str, Any]


def text_step(text: str) -> Step:
    """A final assistant answer that ends the turn."""
    return {"kind": "text", "text": text}


def bash_step(command: str) -> Step:
    """An assistant turn that asks the client to run one Bash command."""
    return {"kind": "tool_use", "name": "Bash", "input": {"command": command}}


def auth_error_step() -> Step:
    """Refuse the request as the real API does for a revoked or expired credential."""
    return {"kind": "auth_error"}


def hang_step() -> Step:
    """Start a streamed answer and then never finish it (a stuck model)."""
    return {"kind": "hang"}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeAnthropic:
    script: list[Step]
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def message_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?")[0].endswith("/v1/messages")]

    def main_requests(self) -> list[Recorded]:
        return [
            r for r in self.message_requests() if isinstance(r.body, dict) and r.body.get("tools")
        ]

    def start(self) -> FakeAnthropic:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def step_for(self, body: dict[str, Any]) -> Step:
        results = 0
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                results += sum(
                    1 for b in content if isinstance(b, dict) and b.get("type") == "tool_result"
                )
        return self.script[min(results, len(self.script) - 1)]


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _usage() -> dict[str, int]:
    return {
        "input_tokens": 12,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _blocks(step: Step, counter: int) -> list[dict[str, Any]]:
    if step["kind"] == "tool_use":
        return [
            {
                "type": "tool_use",
                "id": f"toolu_{counter:04d}",
                "name": step["name"],
                "input": step["input"],
            }
        ]
    return [{"type": "text", "text": step.get("text", "ok")}]


def _make_handler(fake: FakeAnthropic) -> Callable[..., BaseHTTPRequestHandler]:
    counter = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _record(self, body: Any) -> None:
            with lock:
                fake.requests.append(
                    Recorded(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._record(None)
            self._json(200, {})

        def do_HEAD(self) -> None:
            self._record(None)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            self._record(body)
            path = self.path.split("?")[0]
            if path.endswith("/count_tokens"):
                self._json(200, {"input_tokens": 12})
                return
            if not path.endswith("/v1/messages") or not isinstance(body, dict):
                self._json(200, {})
                return
            step = fake.step_for(body) if body.get("tools") else text_step("ok")
            with lock:
                counter[0] += 1
                n = counter[0]
            model = body.get("model", "claude-test")
            if step["kind"] == "auth_error":
                self._json(
                    401,
                    {
                        "type": "error",
                        "error": {
                            "type": "authentication_error",
                            "message": "OAuth token has expired. Please obtain a new token.",
                        },
                    },
                )
                return
            if not body.get("stream"):
                stop = "tool_use" if step["kind"] == "tool_use" else "end_turn"
                self._json(
                    200,
                    {
                        "id": f"msg_{n:04d}",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": _blocks(step, n),
                        "stop_reason": stop,
                        "stop_sequence": None,
                        "usage": _usage(),
                    },
                )
                return
            self._stream(step, n, model)

        def _stream(self, step: Step, n: int, model: str) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            start = {
                "type": "message_start",
                "message": {
                    "id": f"msg_{n:04d}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": _usage(),
                },
            }
            self.wfile.write(_sse("message_start", start))
            self.wfile.flush()
            if step["kind"] == "hang":
                # Hold the connection open without a byte more until the test ends.
                deadline = time.monotonic() + 600
                while not fake._stop.is_set() and time.monotonic() < deadline:
                    fake._stop.wait(0.5)
                return
            out = b""
            for index, block in enumerate(_blocks(step, n)):
                if block["type"] == "tool_use":
                    first = {**block, "input": {}}
                    out += _sse(
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": first},
                    )
                    delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                else:
                    out += _sse(
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                    delta = {"type": "text_delta", "text": block["text"]}
                out += _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                out += _sse("content_block_stop", {"type": "content_block_stop", "index": index})
            stop = "tool_use" if step["kind"] == "tool_use" else "end_turn"
            out += _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 7},
                },
            )
            out += _sse("message_stop", {"type": "message_stop"})
            self.wfile.write(out)
            self.wfile.flush()

    return Handler
