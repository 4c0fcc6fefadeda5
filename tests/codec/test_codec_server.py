"""`gastown-operator codec-server` as the Temporal UI uses it: a real server process, real
HTTP, payloads encrypted by the worker's codec come back decoded; CORS only for the UI's
origin; the token and namespace checks refuse what they should."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.codec import load_key_file
from gastown.sandbox.temporal_dev import free_port
from tests.codec.keys import new_key, write_key_file

OPERATOR = str(Path(sys.executable).parent / "gastown-operator")
UI = "http://localhost:8233"
TOKEN = "codec-token-never-print-me"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    key_file: Path
    process: subprocess.Popen[str]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except (urllib.error.URLError, ConnectionError):
        return 0


def start(tmp_path: Path, *args: str, key_file: Path | None = None) -> Server:
    key_file = key_file or write_key_file(tmp_path / "codec.json", "k1", {"k1": new_key()})
    port = free_port()
    process = subprocess.Popen(
        [OPERATOR, "codec-server", "--bind-address", f"127.0.0.1:{port}", *args],
        env={**os.environ, "GASTOWN_CODEC_KEY_FILE": str(key_file)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while _get(f"{url}/healthz") != 200:
        if process.poll() is not None:
            raise AssertionError(process.communicate())
        assert time.monotonic() < deadline, "the codec server did not answer /healthz"
        time.sleep(0.05)
    return Server(url, key_file, process)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.terminate()
        server.process.communicate(timeout=30)


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Namespace": "default", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def preflight(url: str, origin: str) -> dict[str, str]:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return dict(response.headers)


async def _encrypted(key_file: Path, values: list[object]) -> bytes:
    converter = replace(pydantic_data_converter, payload_codec=load_key_file(key_file))
    return json_format.MessageToJson(Payloads(payloads=await converter.encode(values))).encode()


def _values(body: bytes) -> list[object]:
    payloads = json_format.Parse(body, Payloads()).payloads
    return pydantic_data_converter.payload_converter.from_payloads(list(payloads))


async def test_the_ui_decodes_what_the_worker_encrypted(
    tmp_path: Path, servers: list[Server]
) -> None:
    server = start(tmp_path, "--ui-origin", UI)
    servers.append(server)
    task = {"task": "refactor the billing module", "env": {"DB_PASSWORD": "pw-in-clear"}}
    body = await _encrypted(server.key_file, [task, "second"])
    assert b"pw-in-clear" not in body
    status, headers, answer = post(f"{server.url}/decode", body, {"Origin": UI})
    assert status == 200, answer
    assert headers["Access-Control-Allow-Origin"] == UI
    assert _values(answer) == [task, "second"]
    # The namespace-prefixed endpoint the temporal CLI uses ({namespace}/decode) works too.
    status, _, answer = post(f"{server.url}/default/decode", body)
    assert status == 200 and _values(answer) == [task, "second"]

    # /encode gives what the worker would store: ciphertext that /decode reads back.
    converter = pydantic_data_converter.payload_converter
    plain = json_format.MessageToJson(
        Payloads(payloads=converter.to_payloads(["edited in the UI"]))
    ).encode()
    status, _, encoded = post(f"{server.url}/encode", plain)
    assert status == 200
    (payload,) = json_format.Parse(encoded, Payloads()).payloads
    assert payload.metadata["encryption-key-id"] == b"k1"
    assert b"edited in the UI" not in encoded
    _, _, decoded = post(f"{server.url}/decode", encoded)
    assert _values(decoded) == ["edited in the UI"]


async def test_cors_answers_only_the_ui_origin(tmp_path: Path, servers: list[Server]) -> None:
    server = start(tmp_path, "--ui-origin", UI)
    servers.append(server)
    allowed = preflight(f"{server.url}/decode", UI)
    assert allowed["Access-Control-Allow-Origin"] == UI
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    assert "x-namespace" in allowed["Access-Control-Allow-Headers"].lower()
    other = preflight(f"{server.url}/decode", "https://evil.example")
    assert "Access-Control-Allow-Origin" not in other
    body = await _encrypted(server.key_file, ["x"])
    _, headers, _ = post(f"{server.url}/decode", body, {"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


async def test_token_and_namespace_are_checked(tmp_path: Path, servers: list[Server]) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = start(
        tmp_path, "--auth-token-file", str(token_file), "--namespace", "prod", "--ui-origin", UI
    )
    servers.append(server)
    body = await _encrypted(server.key_file, ["secret"])
    status, _, answer = post(f"{server.url}/decode", body, {"X-Namespace": "prod"})
    assert status == 401 and b"secret" not in answer
    # A refusal still carries CORS for the UI, so the browser can show the reason.
    status, headers, _ = post(
        f"{server.url}/decode",
        body,
        {"X-Namespace": "prod", "Authorization": "Bearer wrong", "Origin": UI},
    )
    assert status == 401
    assert headers["Access-Control-Allow-Origin"] == UI
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, answer = post(f"{server.url}/decode", body, {**auth, "X-Namespace": "staging"})
    assert status == 403 and b"staging" in answer
    status, _, answer = post(f"{server.url}/decode", body, {**auth, "X-Namespace": "prod"})
    assert status == 200 and _values(answer) == ["secret"]
    server.process.terminate()
    out, err = server.process.communicate(timeout=30)
    assert TOKEN not in out + err


async def test_a_payload_under_a_key_it_does_not_hold_is_400_naming_the_id(
    tmp_path: Path, servers: list[Server]
) -> None:
    old = write_key_file(tmp_path / "old.json", "k0", {"k0": new_key()})
    server = start(tmp_path)
    servers.append(server)
    status, _, answer = post(f"{server.url}/decode", await _encrypted(old, ["x"]))
    assert status == 400
    assert b"'k0'" in answer
    status, _, answer = post(f"{server.url}/decode", b"{not json")
    assert status == 400 and b"Payloads" in answer


def test_sigterm_stops_it_cleanly(tmp_path: Path, servers: list[Server]) -> None:
    server = start(tmp_path)
    servers.append(server)
    server.process.send_signal(signal.SIGTERM)
    _, err = server.process.communicate(timeout=30)
    assert server.process.returncode == 0, err
    assert "stopped" in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([], "--codec-key-file (GASTOWN_CODEC_KEY_FILE) is required"),
        (["--codec-key-file", "/no/such/file"], "--codec-key-file (GASTOWN_CODEC_KEY_FILE)"),
        (["--codec-key-file", "{key}", "--ui-origin", "localhost:8233"], "--ui-origin"),
        (["--codec-key-file", "{key}", "--ui-origin", "http://h/path"], "--ui-origin"),
        (["--codec-key-file", "{key}", "--bind-address", "8081"], "--bind-address"),
        (["--codec-key-file", "{key}", "--auth-token-file", "/no/such"], "--auth-token-file"),
        (["--codec-key-file", "{key}", "--max-connections", "0"], "--max-connections"),
        (["--codec-key-file", "{key}", "--request-timeout", "0"], "--request-timeout"),
        (["--codec-key-file", "{key}", "--max-body-bytes", "10"], "--max-body-bytes"),
        (["--codec-key-file", "{key}", "--max-header-bytes", "100"], "--max-header-bytes"),
    ],
    ids=[
        "no-key",
        "missing-key",
        "origin-no-scheme",
        "origin-path",
        "bind",
        "token-file",
        "connections",
        "timeout",
        "body",
        "headers",
    ],
)
def test_bad_flags_are_usage_errors(tmp_path: Path, args: list[str], named: str) -> None:
    key = write_key_file(tmp_path / "k.json", "k1", {"k1": new_key()})
    env = {k: v for k, v in os.environ.items() if not k.startswith("GASTOWN_CODEC")}
    result = subprocess.run(
        [OPERATOR, "codec-server", *(a.replace("{key}", str(key)) for a in args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert named in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- limits (slowloris, floods)


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _until_closed(sock: socket.socket, trickle: bytes, within: float) -> bytes:
    """Send `trickle` a byte at a time, a byte every 0.2 s (what a slowloris client does),
    until the server closes the connection; what the server sent. Fails after `within`."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + within
    for byte in trickle * 10_000:
        assert time.monotonic() < deadline, "the server kept the slow connection open"
        try:
            sock.send(bytes([byte]))
        except OSError:  # reset or closed: cut off
            return received
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError("trickle exhausted")


def test_a_client_trickling_its_request_is_cut_off_at_the_deadline(
    tmp_path: Path, servers: list[Server]
) -> None:
    # Each byte comes well within the idle timeout (min(10 s, the deadline)): only the
    # overall deadline can end it.
    server = start(tmp_path, "--request-timeout", "2")
    servers.append(server)
    for start_of_request in (b"POST /decode HTTP/1.1\r\n", None):
        with _connect(server) as sock:
            if start_of_request is None:  # headers done, the body trickles
                sock.sendall(
                    b"POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n"
                )
                answer = _until_closed(sock, b'{"payloads": [', within=20)
            else:
                sock.sendall(start_of_request)
                answer = _until_closed(sock, b"X-Slow: aaaaaaaaaaaaaaa\r\n", within=20)
            # Cut off, not answered: nothing was decoded for it.
            assert b"200 OK" not in answer
    # And the server still serves.
    assert _get(f"{server.url}/healthz") == 200


async def test_connections_over_the_cap_get_503_at_once_and_service_resumes(
    tmp_path: Path, servers: list[Server]
) -> None:
    server = start(tmp_path, "--max-connections", "3", "--request-timeout", "3")
    servers.append(server)
    body = await _encrypted(server.key_file, ["legitimate"])
    holders: list[socket.socket] = []
    try:
        for _ in range(2):  # each holds a slot: a request begun, never finished
            holders.append(_connect(server))
            holders[-1].sendall(b"POST /decode HTTP/1.1\r\n")
        # Two slots held, one free: a legitimate request is served.
        status, _, answer = post(f"{server.url}/decode", body)
        assert status == 200 and _values(answer) == ["legitimate"]
        holders.append(_connect(server))
        holders[-1].sendall(b"POST /decode HTTP/1.1\r\n")
        with _connect(server) as fourth:
            fourth.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            fourth.settimeout(10)
            answer = b""
            while chunk := fourth.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"too many connections" in answer
        # The holders are cut off by the deadline; then requests are served again.
        for holder in holders:
            holder.settimeout(20)
            try:
                while holder.recv(4096):
                    pass
            except ConnectionResetError:
                pass
    finally:
        for holder in holders:
            holder.close()
    deadline = time.monotonic() + 20
    while _get(f"{server.url}/healthz") != 200:  # the slots are released just after the cut
        assert time.monotonic() < deadline, "the server did not serve again"
        await asyncio.sleep(0.05)
    status, _, answer = post(f"{server.url}/decode", body)
    assert status == 200 and _values(answer) == ["legitimate"]


async def test_an_oversize_body_or_too_many_payloads_is_413(
    tmp_path: Path, servers: list[Server]
) -> None:
    server = start(tmp_path, "--max-body-bytes", "65536", "--max-payloads", "3")
    servers.append(server)
    big = json_format.MessageToJson(
        Payloads(payloads=pydantic_data_converter.payload_converter.to_payloads(["x" * 70_000]))
    ).encode()
    status, _, answer = post(f"{server.url}/decode", big)
    assert status == 413, answer
    assert b"larger than the codec server's limit of 65536 bytes (--max-body-bytes)" in answer
    four = await _encrypted(server.key_file, ["a", "b", "c", "d"])
    status, _, answer = post(f"{server.url}/decode", four)
    assert status == 413 and b"4 payloads" in answer and b"--max-payloads" in answer
    three = await _encrypted(server.key_file, ["a", "b", "c"])
    status, _, answer = post(f"{server.url}/decode", three)
    assert status == 200 and _values(answer) == ["a", "b", "c"]


async def test_a_payload_bound_to_another_namespace_is_refused(
    tmp_path: Path, servers: list[Server]
) -> None:
    """`--namespace prod` holds for ciphertext copied from another namespace's history: the
    namespace is bound into each payload (format 2), not only in the header."""
    from temporalio.converter import WorkflowSerializationContext

    server = start(tmp_path, "--namespace", "prod")
    servers.append(server)
    converter = replace(pydantic_data_converter, payload_codec=load_key_file(server.key_file))
    secret_ns = converter.with_context(
        WorkflowSerializationContext(namespace="secret", workflow_id="w")
    )
    body = json_format.MessageToJson(Payloads(payloads=await secret_ns.encode(["hidden"])))
    status, _, answer = post(f"{server.url}/decode", body.encode(), {"X-Namespace": "prod"})
    assert status == 400 and b"namespace 'secret', not 'prod'" in answer
    assert b"hidden" not in answer
    prod = converter.with_context(WorkflowSerializationContext(namespace="prod", workflow_id="w"))
    body = json_format.MessageToJson(Payloads(payloads=await prod.encode(["shown"])))
    status, _, answer = post(f"{server.url}/decode", body.encode(), {"X-Namespace": "prod"})
    assert status == 200 and _values(answer) == ["shown"]


# ---------------------------------------------------------------- memory (OOM under the chart)

LIMIT = 4 * 1024 * 1024  # the default --max-body-bytes
MiB = 1024 * 1024


def _peak_rss(server: Server) -> int:
    """The server process's peak resident set so far (VmHWM), in bytes."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    (line,) = [row for row in status.splitlines() if row.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024


def _all_at_once(url: str, bodies: list[bytes], headers: dict[str, str] | None = None) -> list:
    """POST every body on its own connection, all at once; the (status, answer) of each."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: post(url, body, headers), bodies))
    return [(status, answer) for status, _, answer in answers]


def _chart_memory_limit() -> int:
    values = yaml.safe_load((REPO / "charts/gastown-operator/values.yaml").read_text())
    limit = values["codec"]["server"]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi"), limit
    return int(limit.removesuffix("Mi")) * MiB


def _warm(server: Server, body: bytes) -> int:
    """One ordinary request first, so the baseline holds what any request allocates."""
    status, _, answer = post(f"{server.url}/decode", body)
    assert status == 200, answer
    return _peak_rss(server)


async def test_a_body_with_more_json_than_max_payloads_allows_is_refused_unparsed(
    tmp_path: Path, servers: list[Server]
) -> None:
    """The review's proof of concept: 4 MiB of `{}` payloads (1.4 million) cost ~170 MB and
    seconds of CPU each before the 413; three at once reached 620 MB. A metadata map of half
    a million tiny entries (no braces at all) cost 100 MB. Now each is a 413 from a count of
    '{', '[' and ',' before any parse."""
    server = start(tmp_path)
    servers.append(server)
    before = _warm(server, await _encrypted(server.key_file, ["warm"]))
    empties = ('{"payloads":[' + ",".join(["{}"] * ((LIMIT - 20) // 3)) + "]}").encode()
    entries = ",".join(f'"{n:x}":""' for n in range((LIMIT - 60) // 11))
    flat_map = ('{"payloads":[{"metadata":{' + entries + "}}]}").encode()
    assert len(empties) <= LIMIT and len(flat_map) <= LIMIT
    answers = _all_at_once(f"{server.url}/decode", [empties, empties, empties, flat_map])
    for status, answer in answers:
        assert status == 413, answer[:200]
        assert b"--max-payloads" in answer and b"at most 64002" in answer
    grown = _peak_rss(server) - before
    # Four bodies of 4 MiB are held (and the test's own copies are not the server's).
    assert grown < 48 * MiB, f"the server's peak RSS grew {grown / MiB:.0f} MiB"
    # Within the bound, as many payloads as --max-payloads allows are still served.
    status, _, answer = post(f"{server.url}/decode", await _encrypted(server.key_file, ["ok"]))
    assert status == 200 and _values(answer) == ["ok"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"payloads":' + b"[" * 5000 + b"]" * 5000 + b"}",  # deeper than json's stack
        b'{"payloads":[{"data":"not base64!"}]}',
        b'{"payloads":{}}',
        b'{"payloads":[{"metadata":{"a":"YQ==","a":"Yg=="}}]}',  # a key twice
        b'{"payloads":[],"n":' + b"7" * 100_000 + b"}",  # an int past Python's digit limit
        b'{"payloads":[]}\xff',
        b"",
    ],
    ids=["deep", "base64", "not-a-list", "duplicate", "huge-int", "not-utf8", "empty"],
)
def test_malformed_json_is_400_never_a_crash(
    tmp_path: Path, servers: list[Server], body: bytes
) -> None:
    server = start(tmp_path)
    servers.append(server)
    status, _, answer = post(f"{server.url}/decode", body)
    assert status == 400, answer[:300]
    assert answer.startswith(b"body is not a Payloads JSON message")
    assert _get(f"{server.url}/healthz") == 200
    server.process.terminate()
    _, err = server.process.communicate(timeout=30)
    assert "Traceback" not in err


def test_nesting_beyond_the_structure_bound_is_413_unparsed(
    tmp_path: Path, servers: list[Server]
) -> None:
    server = start(tmp_path, "--max-payloads", "10")
    servers.append(server)
    status, _, answer = post(f"{server.url}/decode", b"[" * 1000)
    assert status == 413 and b"at most 642" in answer, answer


def test_headers_are_capped_before_the_token_is_checked(
    tmp_path: Path, servers: list[Server]
) -> None:
    """The review's proof of concept: 32 connections each sending 99 header lines of 64 KiB
    (all the standard library allows) reached 246 MB before any token was checked. The
    request line and headers together are now capped at 16 KiB: a 431 naming the limit."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    server = start(tmp_path, "--auth-token-file", str(token_file))
    servers.append(server)
    before = _peak_rss(server)
    line = b"X-A: " + b"a" * 65000 + b"\r\n"

    def attack(_: int) -> bytes:
        with _connect(server) as sock:
            # If the server answered and stopped reading, what it sent is what counts.
            with contextlib.suppress(OSError):
                sock.sendall(b"POST /decode HTTP/1.1\r\nHost: x\r\n" + line * 99)
            sock.settimeout(20)
            answer = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(4096):
                    answer += chunk
            return answer

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(attack, range(32)))
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b"limit of 16384 bytes" in answer
    grown = _peak_rss(server) - before
    assert grown < 32 * MiB, f"the server's peak RSS grew {grown / MiB:.0f} MiB"
    # One long line is refused the same way; ordinary headers are served.
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Long: " + b"b" * 20_000 + b"\r\n\r\n")
        sock.settimeout(20)
        assert sock.recv(4096).startswith(b"HTTP/1.1 431 ")
    assert _get(f"{server.url}/healthz") == 200


async def test_full_connections_of_largest_bodies_fit_the_charts_memory_limit(
    tmp_path: Path, servers: list[Server]
) -> None:
    """The chart's worst case: --max-connections (32) requests of --max-body-bytes (4 MiB)
    at once: half a payload the server really decrypts, half the costliest body found for
    its size (a metadata key of 4-byte characters: Python holds it at 4 bytes a character,
    several times over while parsing and answering). Bodies wait for one another before
    parsing (one parse at a time), so the peak is the bodies plus one request's work; it
    must stay under the chart's memory limit for the codec server with a quarter to spare
    (~205 MiB measured against 384 MiB; 230-330 MiB before the server had glibc unmap large
    buffers, 411 MiB when it escaped 4-byte characters in its answers)."""
    # One slot more than the 32 requests: the last sequential request's slot is given back
    # just after its answer, and a request refused 503 would not be the worst case.
    server = start(tmp_path, "--max-connections", "33")
    servers.append(server)
    value = "z" * (LIMIT * 3 // 4 - 4096)
    big = await _encrypted(server.key_file, [value])
    key = "\U0001f600" * ((LIMIT - 100) // 4)
    wide = ('{"payloads":[{"metadata":{"' + key + '":"YQ=="},"data":"YQ=="}]}').encode()
    assert len(big) <= LIMIT and len(wide) <= LIMIT
    _warm(server, await _encrypted(server.key_file, ["warm"]))
    answers = _all_at_once(f"{server.url}/decode", [big, wide] * 16)
    assert [status for status, _ in answers] == [200] * 32
    assert _values(answers[0][1]) == [value]
    (echoed,) = json_format.Parse(answers[1][1], Payloads()).payloads
    assert list(echoed.metadata) == [key]
    peak, limit = _peak_rss(server), _chart_memory_limit()
    assert peak < limit * 0.75, (
        f"peak RSS {peak / MiB:.0f} MiB, the chart's limit {limit / MiB:.0f}"
    )
