"""`kubectl gt auth sync|status|refresh`: Claude credentials for polecats, and what is known
about them.

The Go original copied the whole ~/.claude directory into Secret keys with slashes (which the
API refuses) and never read the token's expiry. Here one document or token becomes one key of
a credentials Secret (auth_sync.py), labelled so the watcher tells the workflows waiting on it
when it changes; `status` shows each such Secret's kind, mode, expiry and users
(auth_status.py); `refresh` asks a keeper for a refresh now. Nothing here prints a token.

This module holds the commands' flags only; the work is imported when a command runs.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gastown.cli.session import Failure, Session, Usage, session_command

app = typer.Typer(help="Claude credentials for polecats.")

DEFAULT_SECRET = "claude-creds"  # noqa: S105 - a Secret's name, not a secret


class From(StrEnum):
    FILE = "file"
    KEYCHAIN = "keychain"


@app.command("sync")
@session_command
def sync(
    session: Session,
    secret: Annotated[str, typer.Option("--secret", help="Secret to write.")] = DEFAULT_SECRET,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Claude Code's credentials file (default: $CLAUDE_CONFIG_DIR/.credentials.json "
            "or ~/.claude/.credentials.json).",
        ),
    ] = None,
    source: Annotated[
        From | None,
        typer.Option(
            "--from", help="file, or keychain (macOS; the default there).", case_sensitive=False
        ),
    ] = None,
    setup_token: Annotated[
        bool,
        typer.Option(
            "--setup-token",
            help="Read a long-lived token from `claude setup-token` on stdin (best for clusters).",
        ),
    ] = False,
    expires_at: Annotated[
        str | None,
        typer.Option("--expires-at", help="With --setup-token: its expiry (RFC 3339)."),
    ] = None,
    handover: Annotated[
        bool,
        typer.Option(
            "--handover",
            help="Give the session to the cluster (keeper mode); log in again here afterwards.",
        ),
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Sync again whenever the local credentials change.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", help="With --watch: seconds between looks.")
    ] = 2.0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing Secret.")] = False,
) -> None:
    """Copy your Claude credentials into a Secret (replica mode, or keeper with --handover)."""
    from gastown.api.auth import AuthMode, CredentialKind
    from gastown.cli import auth_sync as s

    s.check_name(secret)
    if setup_token:
        for flag, given in (
            ("--file", file is not None),
            ("--from", source is not None),
            ("--handover", handover),
            ("--watch", watch),
        ):
            if given:
                raise Usage(f"{flag} does not go with --setup-token (the token comes on stdin)")
    elif expires_at is not None:
        raise Usage("--expires-at goes with --setup-token (a session carries its own expiry)")
    if watch and handover:
        raise Usage(
            "--watch does not go with --handover: after a handover the cluster owns the session"
        )
    if watch and not (0 < interval <= 3600):
        raise Usage(f"--interval: {interval:g} is not between 0 and 3600 seconds")
    if file is not None and source == From.KEYCHAIN:
        raise Usage("--file does not go with --from keychain")

    where: s.Source | None = None
    raw = b""
    if setup_token:
        creds = s.read_setup_token(expires_at)
        shown = "stdin"
    else:
        use_keychain = source == From.KEYCHAIN or (
            source is None and file is None and sys.platform == "darwin"
        )
        where = s.KeychainSource() if use_keychain else s.FileSource(file or s.default_file())
        raw = where.read()
        creds = s.from_document(raw, where.flag, where.where)
        shown = where.where
        s.refuse_expired(creds, shown)
    if handover and creds.kind != CredentialKind.SESSION:
        raise Usage(
            f"--handover: {shown} holds no refresh token, so there is no session to hand over"
        )
    mode = AuthMode.KEEPER if handover else AuthMode.REPLICA
    meta = s.write(session, secret, creds, mode, force)
    typer.echo(s.synced_line(secret, session.namespace, creds, mode))
    if handover:
        s.handover(session, secret, str(meta["resourceVersion"]))
    if watch and where is not None:
        s.watch(session, where, secret, interval, raw)


@app.command("status")
@session_command
def status(
    session: Session,
    secret: Annotated[
        str | None,
        typer.Option("--secret", help="Also show this Secret (an error when it is missing)."),
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("-A", "--all-namespaces", help="Across all namespaces.")
    ] = False,
) -> int:
    """Each credentials Secret: kind, mode, expiry, last sync and refresh, who uses it.

    Exit 1 when a named Secret is missing or any shown has expired. Never prints a token."""
    from gastown.cli.auth_status import show

    if secret is not None:
        from gastown.cli.auth_sync import check_name

        check_name(secret)
    return show(session, secret, all_namespaces)


@app.command("refresh")
@session_command
def refresh(
    session: Session,
    secret: Annotated[
        str, typer.Option("--secret", help="The keeper-mode Secret.")
    ] = DEFAULT_SECRET,
) -> None:
    """Ask the Secret's keeper to refresh the session now; prints the new expiry."""
    import asyncio

    from gastown.cli.auth_status import refresh_now
    from gastown.cli.auth_sync import check_name

    check_name(secret)
    result = asyncio.run(refresh_now(session, secret))
    if result is None:
        raise Failure(
            f"no keeper runs for Secret {secret!r} in {session.namespace!r}: hand a session "
            "over with `kubectl gt auth sync --handover`"
        )
    typer.echo(result)
