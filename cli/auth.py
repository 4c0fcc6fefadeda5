"""`kubectl gt auth sync|status`: Claude Code's OAuth credentials into a Secret, and back out
as an expiry date.

The Go original copied the whole ~/.claude directory into Secret keys with slashes (which the
API refuses) and never read the token's expiry. Here one file becomes one key,
`.credentials.json`, the key the polecat runtime reads, and an expired token is refused
before it reaches the cluster. Nothing here prints a token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gastown.cli.session import (
    Failure,
    Kubeconfig,
    KubeContext,
    Namespace,
    Session,
    Usage,
    command,
)

app = typer.Typer(help="Claude credentials for polecats.")

KEY = ".credentials.json"
DEFAULT_FILE = Path("~/.claude/.credentials.json")
DEFAULT_SECRET = "claude-creds"  # noqa: S105 - a Secret's name, not a secret
SecretName = Annotated[str, typer.Option("--secret", help="Secret to write.")]


def _expiry(doc: Any) -> datetime | None:
    oauth = doc.get("claudeAiOauth") if isinstance(doc, dict) else None
    expires = oauth.get("expiresAt") if isinstance(oauth, dict) else None
    if not isinstance(expires, int | float):
        return None
    return datetime.fromtimestamp(expires / 1000, tz=UTC)


def _read(path: Path) -> tuple[str, datetime | None]:
    try:
        text = path.expanduser().read_text()
        doc = json.loads(text)
    except OSError as exc:
        raise Usage(
            f"--file: cannot read {path} ({exc.strerror}); log in with `claude /login` first"
        ) from None
    except ValueError:
        raise Usage(f"--file: {path} is not JSON; is it Claude Code's credentials file?") from None
    if not isinstance(doc, dict) or "claudeAiOauth" not in doc:
        raise Usage(f"--file: {path} holds no claudeAiOauth credentials")
    return text, _expiry(doc)


@app.command("sync")
@command
def sync(
    file: Annotated[Path, typer.Option("--file", help="Claude Code's credentials file.")] = (
        DEFAULT_FILE
    ),
    secret: SecretName = DEFAULT_SECRET,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing Secret.")] = False,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
) -> None:
    """Copy the OAuth credentials file from `claude /login` into a Secret."""
    from gastown.kube import SECRETS, Conflict, writing

    text, expires = _read(file)
    if expires is not None and expires <= datetime.now(UTC):
        raise Failure(
            f"the token in {file} expired at {expires:%Y-%m-%d %H:%M}Z: run `claude /login`, "
            "then sync again"
        )
    session = Session(kubeconfig=kubeconfig, context=context, namespace_flag=namespace)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret,
            "labels": {"app.kubernetes.io/managed-by": "gastown-operator"},
        },
        "stringData": {KEY: text},
    }
    ns = session.namespace
    try:
        session.client.run_sync(writing.create(SECRETS, body, ns))
    except Conflict:
        if not force:
            raise Failure(
                f"Secret {secret!r} already exists in {ns!r}; pass --force to replace it"
            ) from None
        session.client.run_sync(writing.replace(SECRETS, body, ns))
    until = f", valid until {expires:%Y-%m-%d %H:%M}Z" if expires else ""
    typer.echo(f"Secret {secret} synced in namespace {session.namespace}{until}")


@app.command("status")
@command
def status(
    secret: SecretName = DEFAULT_SECRET,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
) -> None:
    """Show whether the Secret holds credentials and when they expire."""
    import base64

    from gastown.kube import NotFound, reading

    session = Session(kubeconfig=kubeconfig, context=context, namespace_flag=namespace)
    try:
        data = session.client.run_sync(reading.secret_data(session.namespace, secret))
    except NotFound:
        raise Failure(
            f"Secret {secret!r} not found in {session.namespace!r}: run `kubectl gt auth sync`"
        ) from None
    if KEY not in data:
        raise Failure(f"Secret {secret!r} has no {KEY}: run `kubectl gt auth sync --force`")
    try:
        expires = _expiry(json.loads(base64.b64decode(data[KEY])))
    except ValueError:
        raise Failure(f"Secret {secret!r} holds no valid credentials JSON") from None
    if expires is None:
        typer.echo(f"Secret {secret}: credentials without an expiry")
    elif expires <= datetime.now(UTC):
        typer.echo(f"Secret {secret}: EXPIRED at {expires:%Y-%m-%d %H:%M}Z")
        typer.echo("run `claude /login`, then `kubectl gt auth sync --force`")
        raise typer.Exit(1)
    else:
        left = expires - datetime.now(UTC)
        hours = int(left.total_seconds() // 3600)
        typer.echo(f"Secret {secret}: valid until {expires:%Y-%m-%d %H:%M}Z ({hours}h left)")
