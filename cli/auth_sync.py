"""`kubectl gt auth sync`: the user's Claude credentials into one credentials Secret.

Three sources: Claude Code's credentials file (`claude /login` on Linux writes
~/.claude/.credentials.json, or $CLAUDE_CONFIG_DIR/.credentials.json), the macOS keychain item
Claude Code keeps the same document in (read with `security`, argv only), and a long-lived
token from `claude setup-token` on stdin (never argv: a token on a command line is in `ps` and
the shell's history). Only that one document or token is stored, under the one key the worker
reads, never the rest of ~/.claude. The Secret is labelled so the watcher watches it, and
annotated with its mode (replica: the laptop owns the session; keeper after `--handover`: the
cluster does), when it was synced and when it expires.

`--watch` keeps a replica fresh: Claude Code rewrites its credentials whenever it refreshes
them, and each rewrite is synced (the file's mtime, then a digest of its content, polled; the
keychain is read each time). Nothing here prints a token, and no error message holds one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import typer

from gastown.api.auth import (
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_MODE,
    ANNOTATION_REFRESHED_AT,
    ANNOTATION_SYNCED_AT,
    LABEL_CREDENTIALS,
    SESSION_KEY,
    TOKEN_KEY,
    AuthMode,
    CredentialKind,
    claude_only,
    format_time,
    parse_session,
    parse_time,
)
from gastown.api.identity import LABEL_MANAGED_BY, MANAGED_BY
from gastown.api.patterns import DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MAX
from gastown.cli.session import Failure, Session, Usage

KEYCHAIN_SERVICE = "Claude Code-credentials"
SECURITY_SECONDS = 30
# kubectl apply's copy of the object: a Secret applied by hand carries its old data there.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
OURS = (ANNOTATION_MODE, ANNOTATION_SYNCED_AT, ANNOTATION_REFRESHED_AT, ANNOTATION_EXPIRES_AT)
TOKEN_MAX = 4096
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]+")


def default_file() -> Path:
    """Where Claude Code keeps its credentials on Linux."""
    root = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(root) if root else Path.home() / ".claude") / ".credentials.json"


@dataclass(frozen=True)
class Credentials:
    """One credentials document or token, as it goes into the Secret."""

    key: str
    value: str
    kind: CredentialKind
    expires_at: datetime | None

    def __repr__(self) -> str:  # never the value
        return f"Credentials(key={self.key!r}, kind={self.kind}, expires_at={self.expires_at})"


def expiry_text(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M}Z" if when else "no expiry known"


def from_document(raw: bytes, flag: str, where: str) -> Credentials:
    """Claude Code's credentials document (Usage naming `flag` when it is not one)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise Usage(f"{flag}: {where} is not text; is it Claude Code's credentials?") from None
    session = parse_session(text)
    if session is None:
        if not text.lstrip().startswith("{"):
            raise Usage(f"{flag}: {where} is not JSON; is it Claude Code's credentials?")
        raise Usage(
            f"{flag}: {where} holds no claudeAiOauth credentials; log in with `claude /login`, "
            "or use an API key (apiKeySecretRef) or `--setup-token`"
        )
    kind = CredentialKind.SESSION if session.refresh_token else CredentialKind.ACCESS_TOKEN
    return Credentials(SESSION_KEY, claude_only(session), kind, session.expires_at)


def refuse_expired(creds: Credentials, where: str) -> None:
    if creds.expires_at is not None and creds.expires_at <= datetime.now(UTC):
        raise Failure(
            f"the session in {where} expired at {expiry_text(creds.expires_at)}: run "
            "`claude /login` (or, for a cluster, `claude setup-token` and `kubectl gt auth sync "
            "--setup-token`), then sync again"
        )


class Source(Protocol):
    @property
    def flag(self) -> str:
        """The flag that chose this source, for error messages."""

    @property
    def where(self) -> str:
        """The source as a user would name it."""

    def stamp(self) -> tuple[int, int] | None:
        """A cheap change hint (mtime, size), or None when there is none (read each time)."""

    def read(self) -> bytes:
        """The raw document; Usage naming the flag when it cannot be had."""


@dataclass(frozen=True)
class FileSource:
    path: Path
    flag: str = "--file"

    @property
    def where(self) -> str:
        return str(self.path)

    def stamp(self) -> tuple[int, int] | None:
        st = self.path.stat()
        return (st.st_mtime_ns, st.st_size)

    def read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise Usage(
                f"--file: cannot read {self.path} ({exc.strerror}); log in with "
                "`claude /login` first, or name the file with --file"
            ) from None


@dataclass(frozen=True)
class KeychainSource:
    """The macOS keychain item Claude Code uses; `security` is run with an argument list (no
    shell), and what it prints is the document itself, never echoed."""

    flag: str = "--from keychain"
    where: str = f"the keychain item {KEYCHAIN_SERVICE!r}"

    def stamp(self) -> tuple[int, int] | None:
        return None

    def read(self) -> bytes:
        security = shutil.which("security")
        if security is None:
            raise Usage(
                "--from keychain: the macOS `security` tool is not on PATH; on Linux use "
                "--from file (~/.claude/.credentials.json)"
            )
        argv = [security, "find-generic-password", "-s", KEYCHAIN_SERVICE, "-w"]
        try:
            done = subprocess.run(  # argv, no shell: a fixed tool and arguments
                argv, capture_output=True, timeout=SECURITY_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Usage(f"--from keychain: `security` did not answer ({exc})") from None
        if done.returncode != 0:
            raise Usage(
                f"--from keychain: no keychain item {KEYCHAIN_SERVICE!r} (security exited "
                f"{done.returncode}); log in with `claude /login` first"
            )
        return done.stdout.strip()


def read_setup_token(expires_at: str | None) -> Credentials:
    """A long-lived token from stdin: hidden prompt at a terminal, else the first line."""
    if sys.stdin is None:
        raise Usage("--setup-token: no stdin to read the token from")
    if sys.stdin.isatty():
        raw = typer.prompt("Token from `claude setup-token`", hide_input=True)
    else:
        raw = sys.stdin.read()
    token = raw.strip()
    if not token:
        raise Usage("--setup-token: stdin was empty; pipe the token from `claude setup-token`")
    if token.startswith("{"):
        raise Usage("--setup-token: stdin holds JSON; for a credentials document use --file")
    if len(token) > TOKEN_MAX or not TOKEN_PATTERN.fullmatch(token):
        raise Usage(
            "--setup-token: stdin does not hold one token (a single line of letters, digits "
            "and . _ ~ + / = -)"
        )
    when = None
    if expires_at is not None:
        when = parse_time(expires_at)
        if when is None:
            raise Usage(  # the value is not repeated: a token pasted here stays unprinted
                "--expires-at: not a date; use RFC 3339, e.g. 2027-01-31T00:00:00Z"
            )
        if when <= datetime.now(UTC):
            raise Failure(
                f"--expires-at {format_time(when)} is past: the token has expired; run "
                "`claude setup-token` for a new one"
            )
    return Credentials(TOKEN_KEY, token, CredentialKind.LONG_LIVED_TOKEN, when)


def check_name(secret: str) -> None:
    if len(secret) > DNS1123_SUBDOMAIN_MAX or not re.fullmatch(DNS1123_SUBDOMAIN, secret):
        raise Usage(
            f"--secret: {secret[:80]!r} is not a valid Secret name (lowercase letters, digits, "
            "'-' and '.')"
        )


def secret_body(
    name: str, creds: Credentials, mode: AuthMode, existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The whole Secret: the one key, our label and annotations; a replaced Secret keeps the
    labels and annotations that are not ours (but not kubectl's copy of its old data)."""
    old = (existing or {}).get("metadata") or {}
    labels = {**(old.get("labels") or {}), LABEL_CREDENTIALS: "true", LABEL_MANAGED_BY: MANAGED_BY}
    notes = {
        k: v for k, v in (old.get("annotations") or {}).items() if k not in (*OURS, LAST_APPLIED)
    }
    notes[ANNOTATION_MODE] = mode.value
    notes[ANNOTATION_SYNCED_AT] = format_time(datetime.now(UTC))
    if creds.expires_at is not None:
        notes[ANNOTATION_EXPIRES_AT] = format_time(creds.expires_at)
    meta: dict[str, Any] = {"name": name, "labels": labels, "annotations": notes}
    if existing is not None:
        meta["resourceVersion"] = old["resourceVersion"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": (existing or {}).get("type") or "Opaque",
        "data": {creds.key: base64.b64encode(creds.value.encode()).decode()},
    }


def write(
    session: Session, name: str, creds: Credentials, mode: AuthMode, force: bool
) -> dict[str, Any]:
    """Create the Secret, or with `force` replace it (guarded by its resourceVersion: a
    concurrent writer makes us read again). The stored Secret's metadata."""
    from gastown.kube import SECRETS, Conflict, reading, writing

    ns = session.namespace
    try:
        made = session.client.run_sync(writing.create(SECRETS, secret_body(name, creds, mode), ns))
        return dict(made["metadata"])
    except Conflict:
        if not force:
            raise Failure(
                f"Secret {name!r} already exists in {ns!r}; pass --force to replace it"
            ) from None
    for _ in range(5):
        current = session.client.run_sync(reading.get(SECRETS, name, ns))
        try:
            body = secret_body(name, creds, mode, current)
            return dict(session.client.run_sync(writing.replace(SECRETS, body, ns))["metadata"])
        except Conflict:
            continue
    raise Failure(f"Secret {name!r} keeps changing; try again")


def synced_line(name: str, ns: str, creds: Credentials, mode: AuthMode) -> str:
    until = f", valid until {expiry_text(creds.expires_at)}" if creds.expires_at else ""
    return f"Secret {name} synced in namespace {ns} ({creds.kind}, {mode}){until}"


async def start_keeper(session: Session, name: str, version: str) -> None:
    """Signal-with-start of the Secret's keeper (the watcher does it too)."""
    import asyncio

    from gastown.operator.credentials import CredentialsWorkflows

    async with asyncio.timeout(15):
        temporal = await session.temporal()
        flows = CredentialsWorkflows(temporal, session.temporal_settings.task_queue)
        await flows.keep(session.namespace, name, version)


def handover(session: Session, name: str, version: str) -> None:
    import asyncio

    typer.echo(
        "The cluster now keeps this session and will rotate its refresh token: the copy on "
        "this machine stops working at its next refresh. Run `claude /login` here again for "
        "a session of your own."
    )
    try:
        asyncio.run(start_keeper(session, name, version))
    except Exception as exc:  # Failure (no Temporal), TimeoutError, RPCError
        text = str(exc) or type(exc).__name__
        typer.echo(
            f"warning: could not start the keeper now ({text}); the watcher starts it when it "
            "sees the Secret",
            err=True,
        )
    else:
        typer.echo(f"keeper workflow credentials/{session.namespace}/{name} is running")


def watch(
    session: Session,
    source: Source,
    name: str,
    interval: float,
    last: bytes,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Sync again whenever the source's content changes, until Ctrl-C (exit 0)."""
    from gastown.cli.session import api_message

    digest = hashlib.sha256(last).digest()
    # None: the first look reads and compares the content, so a change made between the
    # first sync's read and now is not missed.
    stamp: tuple[int, int] | None = None
    failing: str | None = None  # the API error last reported
    # Ctrl-C ends the loop between syncs, so a sync under way is finished and said; a second
    # Ctrl-C interrupts at once.
    stop = threading.Event()

    def interrupted(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, interrupted)
    typer.echo(f"watching {source.where} every {interval:g}s (Ctrl-C stops)")
    try:
        while not stop.wait(interval):
            try:
                seen = source.stamp()
            except OSError:
                continue  # being rewritten, or gone for now
            if seen is not None and seen == stamp:
                continue
            try:
                raw = source.read()
            except Usage:
                continue
            fresh = hashlib.sha256(raw).digest()
            clock = f"{now():%H:%M:%S}"
            if fresh == digest:
                stamp = seen
                continue
            try:
                creds = from_document(raw, source.flag, source.where)
                refuse_expired(creds, source.where)
                write(session, name, creds, AuthMode.REPLICA, force=True)
            except (Usage, Failure) as exc:
                typer.echo(f"{clock} not synced: {exc}", err=True)
                stamp, digest = seen, fresh  # wait for the next change
                continue
            except Exception as exc:  # the API: try again at the next poll, saying so once
                text = api_message(exc)
                if text != failing:
                    typer.echo(f"{clock} not synced: {text}; retrying", err=True)
                failing = text
                continue
            failing = None
            stamp, digest = seen, fresh
            typer.echo(f"{clock} {synced_line(name, session.namespace, creds, AuthMode.REPLICA)}")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)
    typer.echo("stopped watching")
