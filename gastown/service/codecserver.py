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

The standard library's HTTP server is enough for two routes: the codec is pure CPU, and no
web framework joins the operator image for this. What it lacks is limits, so they are here:
at most `max_connections` connections are served at once (a thread each; the next one gets
a 503 from the accepting thread and no thread), every socket read waits at most
`idle_timeout` seconds, and a connection lives at most `request_timeout` seconds in all, so a
client trickling its headers or body a byte at a time is cut off (slowloris). One request per
connection (`Connection: close`), so that deadline is the request's. The request line and
headers may hold `max_header_bytes` in all (431). Bodies above `max_body_bytes` are refused
(413) from their Content-Length, unread; a body with more JSON structure than `max_payloads`
payloads can hold is refused (413) from a count, unparsed (`structure_bound`), and one with
more than `max_payloads` payloads after parsing. Parsing, the codec and the answer run for
one request at a time: memory is then at most every connection's body plus one request's
work (docs/codec.md, "Memory"), which the chart's limit is sized for.

Decoding checks the namespace: a format-2 payload bound to another namespace than the request's
`X-Namespace` is refused (400), so `--namespace` also holds for ciphertext copied from another
namespace's history. The codec server does not apply strict mode (`requireEncryption`): it
shows plaintext payloads as they are, for people reading a history.
"""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import io
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from gastown.codec import AESGCMCodec, Binding

log = logging.getLogger("gastown.codecserver")

# The UI sends the payloads of one history event (or a few) per request; Temporal's own limit
# is 2 MiB per payload, and base64 in JSON adds a third.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_PAYLOADS = 1000
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_REQUEST_TIMEOUT = 30.0
# Longest single wait for the client's next bytes (at most the request timeout).
IDLE_TIMEOUT = 10.0
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
# The request line and every header together: a browser's codec request sends a few KiB (an
# OIDC access token, and the cookies of a proxy in front, are the large ones). The standard
# library alone allows 100 header lines of 64 KiB each, held until the last one arrives.
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
# '{', '[' and ',' allowed per payload before a body is parsed (see `structure_bound`).
STRUCTURE_PER_PAYLOAD = 64
# After refusing a body unread, at most this much of it is read and dropped, so the client
# reads the 413 instead of a connection reset (the deadline bounds the time).
DRAIN_BYTES = 16 * 1024 * 1024
TEXT = "text/plain"


def headers_too_large(limit: int) -> bytes:
    text = (
        b"request headers are larger than the codec server's limit of %d bytes (request line "
        b"and headers together, --max-header-bytes); send fewer or shorter headers\n" % limit
    )
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)
    )


_BUSY_TEXT = b"busy: too many connections to the codec server now, retry\n"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT)
)


@dataclass(frozen=True)
class CodecServerOptions:
    codec: AESGCMCodec
    ui_origins: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    auth_token: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_payloads: int = DEFAULT_MAX_PAYLOADS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES

    @property
    def idle_timeout(self) -> float:
        return min(IDLE_TIMEOUT, self.request_timeout)


def structure_bound(max_payloads: int) -> int:
    """The most '{', '[' and ',' a `Payloads` JSON of `max_payloads` payloads holds, counted
    before parsing so that a body which cannot be within the limit costs no parse.

    Why counting those three bounds the parse: every JSON value is the document, the first
    element of an object or array, or follows a comma; every object key precedes a value. So
    a body with n of them yields at most 2(n + 1) Python objects from `json.loads`, however
    they are arranged (`[{},{},…]`, a metadata map of a million tiny entries, `[[[[…`).
    Characters inside strings only add to the count, never hide a value.

    Why it does not refuse real payloads: protobuf JSON of one Payload is
    `{"metadata":{"<key>":"<base64>",…},"data":"<base64>","externalPayloads":[{…},…]}`:
    base64 holds none of the three, so a payload with m metadata entries and e external
    payloads counts at most m + 2e + 4 (its two objects, the commas between its fields and
    entries, the one before the next payload); the envelope `{"payloads":[…]}` two. Temporal's
    payloads carry a handful of metadata entries (the codec writes five), so 64 per payload
    leaves room for 60 metadata entries (fewer if they name keys with commas or braces)."""
    return STRUCTURE_PER_PAYLOAD * max_payloads + 2


def structure_count(body: bytes) -> int:
    return body.count(b"{") + body.count(b"[") + body.count(b",")


class _HeadersTooLarge(Exception):
    """Not an HTTPException: parse_request must not turn it into its own HTML 431."""


class _HeaderBudget:
    """The request line and headers are read through this: at most `left` bytes in all,
    whatever the per-line limits of http.server (64 KiB) and http.client (100 lines)."""

    def __init__(self, stream: io.BufferedIOBase, left: int) -> None:
        self._stream = stream
        self._left = left

    def close(self) -> None:
        """The handler closes its reader at the end, also when no request line came."""
        self._stream.close()

    def readline(self, size: int | None = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        line = self._stream.readline(want)
        self._left -= len(line)
        if self._left < 0:
            raise _HeadersTooLarge
        return line


class _Handler(BaseHTTPRequestHandler):
    server: _CodecHTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Seconds one read may wait: a client that stalls mid-request frees its thread.
        self.connection.settimeout(self.server.options.idle_timeout)
        self.deadline = time.monotonic() + self.server.options.request_timeout
        self._body = self.rfile
        self.rfile = _HeaderBudget(self._body, self.server.options.max_header_bytes)  # type: ignore[assignment]

    def parse_request(self) -> bool:
        try:
            return super().parse_request()
        finally:
            self.rfile = self._body  # the headers are read: the body is bounded by its length

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _HeadersTooLarge:
            log.info(
                "refused %s: request headers above %d bytes (431)",
                self.client_address[0],
                self.server.options.max_header_bytes,
            )
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.wfile.write(headers_too_large(self.server.options.max_header_bytes))
                self.wfile.flush()
                # The client reads the answer up to our FIN, not a reset from unread headers.
                self.connection.shutdown(socket.SHUT_WR)
                self._drain(DRAIN_BYTES, self._body)

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

    def _answer(self, status: int, body: bytes, content_type: str = TEXT) -> None:
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _refuse(self, status: int, text: str) -> None:
        self._answer(status, (text + "\n").encode())

    # ------------------------------------------------------------------ routes
    def do_OPTIONS(self) -> None:
        self.send_response(204 if self.headers.get("Origin") else 200)
        self._cors()
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

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
        if length < 0 or length > options.max_body_bytes:
            self._refuse(
                413,
                f"body of {length} bytes is larger than the codec server's limit of "
                f"{options.max_body_bytes} bytes (--max-body-bytes); send fewer payloads at once",
            )
            self._drain(length)
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away, or the deadline cut it off
            self.close_connection = True
            return
        # Before any parse: a body with more JSON values than max_payloads payloads can hold
        # is refused at the cost of counting three bytes (structure_bound says why).
        structure, bound = structure_count(body), structure_bound(options.max_payloads)
        if structure > bound:
            self._refuse(
                413,
                f"body holds {structure} of '{{', '[' and ',', more than {options.max_payloads} "
                f"payloads (the codec server's limit per request, --max-payloads) can: at most "
                f"{bound}; send fewer payloads at once",
            )
            return
        # One parse and transform at a time: each holds a few times its body in memory, so
        # concurrent requests wait here instead of adding up (docs/codec.md, "Memory").
        # The wait ends a second before the request's deadline cuts the socket, so the 503
        # can still be written.
        wait = self.deadline - time.monotonic() - BUSY_ANSWER_SECONDS
        if not self.server.work.acquire(timeout=max(0.0, wait)):
            self._refuse(503, "busy: the codec server is working on other requests, retry")
            return
        try:
            status, answer, content_type = self._work(action, body, namespace or None)
        finally:
            self.server.work.release()
        del body
        self._answer(status, answer, content_type)

    def _work(self, action: str, body: bytes, namespace: str | None) -> tuple[int, bytes, str]:
        options = self.server.options
        try:
            payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            # RecursionError from nesting deeper than json's stack is a ParseError here too.
            return 400, f"body is not a Payloads JSON message: {str(exc)[:300]}\n".encode(), TEXT
        if len(payloads.payloads) > options.max_payloads:
            return (
                413,
                f"{len(payloads.payloads)} payloads is more than the codec server's limit of "
                f"{options.max_payloads} per request (--max-payloads)\n".encode(),
                TEXT,
            )
        try:
            out = self._transform(action, payloads.payloads, namespace)
        except ValueError as exc:  # an unknown key ID, a payload that does not decrypt
            return 400, f"cannot {action}: {exc}\n".encode(), TEXT
        del payloads
        # Compact (json's C encoder; with an indent it falls back to the pure-Python one) and
        # UTF-8 (escaping would make a 4-byte character 12): the answer is about its body.
        answer = json_format.MessageToJson(Payloads(payloads=out), indent=None, ensure_ascii=False)
        return 200, answer.encode(), "application/json"

    def _drain(self, length: int, stream: io.BufferedIOBase | None = None) -> None:
        """Read and drop (part of) a refused body, so the client gets to read the answer."""
        stream = stream or self.rfile
        left = min(max(length, 0), DRAIN_BYTES)
        try:
            while left > 0:
                chunk = stream.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _transform(
        self, action: str, payloads: Sequence[Payload], namespace: str | None
    ) -> list[Payload]:
        codec = self.server.options.codec.bound_to(Binding(namespace=namespace))
        if action == "encode":
            return codec.encode_sync(payloads)
        return codec.decode_sync(payloads, strict=False)


def _cut(sock: socket.socket) -> None:
    """The connection's deadline passed: end it, whatever its thread is waiting for."""
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _CodecHTTPServer(HTTPServer):
    """A thread per connection, at most `max_connections` of them, each cut off at
    `request_timeout`."""

    def __init__(self, address: tuple[str, int], options: CodecServerOptions) -> None:
        self.options = options
        # The listen backlog (socketserver's default is 5): a burst of connections up to the
        # cap waits to be accepted (and the ones over it answered 503) instead of reset.
        self.request_queue_size = max(options.max_connections, 16)
        self._slots = threading.BoundedSemaphore(options.max_connections)
        # Parse, transform and answer one request at a time (memory, not CPU: see _Handler).
        self.work = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # On the accepting thread: a short write to a fresh socket, then close.
            try:
                request.settimeout(1.0)
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            log.warning("codec server busy: refused %s (503)", client_address[0])
            return
        try:
            threading.Thread(
                target=self._serve, args=(request, client_address), daemon=True
            ).start()
        except RuntimeError:  # no thread to be had
            self._slots.release()
            self.shutdown_request(request)

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        deadline = threading.Timer(self.options.request_timeout, _cut, (request,))
        deadline.daemon = True
        started = time.monotonic()
        deadline.start()
        try:
            self.finish_request(request, client_address)
        except Exception as exc:  # a client gone mid-answer, or cut off by the deadline
            log.debug(
                "connection from %s ended after %.1fs: %s",
                client_address[0],
                time.monotonic() - started,
                type(exc).__name__,
            )
        finally:
            deadline.cancel()
            self.shutdown_request(request)
            self._slots.release()


# glibc's mallopt parameter: allocations from this size up get their own mapping.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


#: What the lock's wait leaves of a request's deadline to answer 503 in.
BUSY_ANSWER_SECONDS = 1.0


def give_large_buffers_back() -> bool:
    """Make glibc map every large buffer (a body, a parsed string, an answer) on its own and
    unmap it when freed. By default glibc raises that threshold to the largest buffer freed
    so far (up to 32 MiB), after which 4 MiB bodies come from per-thread heaps that keep
    the memory: 32 connections of 4 MiB bodies then peaked 230-330 MiB instead of ~210-225
    MiB (docs/codec.md, "Memory"). False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def make_server(host: str, port: int, options: CodecServerOptions) -> HTTPServer:
    """The server, bound; `serve_forever()` runs it, `shutdown()` from another thread stops
    it. Binding errors (a port in use) raise OSError here, before anything is served."""
    if not give_large_buffers_back():
        log.info("not glibc: large buffers are not unmapped at once (more peak memory)")
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
            "require_encryption": options.codec.require_encryption,
            "max_body_bytes": options.max_body_bytes,
            "max_payloads": options.max_payloads,
            "max_connections": options.max_connections,
            "max_header_bytes": options.max_header_bytes,
            "request_timeout": options.request_timeout,
        }
    )
