"""Claude credentials: the OAuth file from the mounted Secret, an API key, or an OAuth token
(the mounted Secret's `oauth-token` file, else the CLAUDE_CODE_OAUTH_TOKEN env var).

The OAuth file is copied to $HOME/.claude/.credentials.json (mode 0600) because the CLI reads
it there and the Secret mount is read-only. Its access token is checked before the model is
called: an access token that has already expired means outcome auth_expired. The pod does not
refresh it: refresh tokens rotate, and the operator is the single writer of the Secret.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gastown.api.auth import POD_TOKEN_KEY
from gastown.runtime import redact
from gastown.runtime.result import ErrorClass

CREDENTIAL_FILE_NAMES = (".credentials.json", "credentials.json")
# In the polecat's own Secret: a long-lived token (`claude setup-token`), used as
# CLAUDE_CODE_OAUTH_TOKEN (the operator writes it there; see activities/podauth.py).
# The polecat's own Secret's key for a long-lived token (gastown/api/auth.py writes it).
OAUTH_TOKEN_FILE = POD_TOKEN_KEY


class CredentialsError(Exception):
    def __init__(self, error_class: ErrorClass, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


@dataclass(frozen=True)
class ClaudeAuth:
    """Which credential the agent will use, and the env it needs (secret values included)."""

    kind: str  # "oauth-file" | "oauth-token" | "api-key"
    env: dict[str, str]
    expires_at_ms: int | None = None


def find_credentials_file(creds_dir: Path | None) -> Path | None:
    if creds_dir is None:
        return None
    for name in CREDENTIAL_FILE_NAMES:
        candidate = creds_dir / name
        if candidate.is_file():
            return candidate
    return None


def read_oauth_token(creds_dir: Path | None) -> str:
    """The long-lived token from the mounted Secret's `oauth-token` file ("" when none)."""
    if creds_dir is None:
        return ""
    path = creds_dir / OAUTH_TOKEN_FILE
    if not path.is_file():
        return ""
    return path.read_text(encoding="utf-8", errors="replace").strip()


def _install(home: Path, data: bytes) -> Path:
    claude_dir = home / ".claude"
    claude_dir.mkdir(parents=True, exist_ok=True)
    claude_dir.chmod(0o700)
    target = claude_dir / ".credentials.json"
    tmp = claude_dir / ".credentials.json.tmp"
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)
    return target


def prepare(
    home: Path, creds_dir: Path | None, env: Mapping[str, str], now: float | None = None
) -> ClaudeAuth:
    """Install and check the agent's credentials; raise CredentialsError when unusable."""
    now = time.time() if now is None else now
    api_key = env.get("ANTHROPIC_API_KEY", "").strip()
    # The mounted file (the operator's) wins over an env var of the same meaning.
    oauth_token = read_oauth_token(creds_dir) or env.get("CLAUDE_CODE_OAUTH_TOKEN", "").strip()
    redact.register(api_key)
    redact.register(oauth_token)
    passthrough = {}
    if api_key:
        passthrough["ANTHROPIC_API_KEY"] = api_key
    if oauth_token:
        passthrough["CLAUDE_CODE_OAUTH_TOKEN"] = oauth_token
    source = find_credentials_file(creds_dir)
    if source is not None:
        data = source.read_bytes()
        try:
            doc = json.loads(data)
            oauth = doc["claudeAiOauth"]
            access = str(oauth["accessToken"])
            expires_raw = oauth.get("expiresAt")
        except (ValueError, KeyError, TypeError):
            raise CredentialsError(
                ErrorClass.CREDENTIALS_MISSING,
                f"{source.name} in the Claude credentials Secret is not a Claude Code OAuth "
                "credentials file (expected claudeAiOauth.accessToken); re-run "
                "`kubectl gt auth sync`",
            ) from None
        redact.register(access)
        redact.register(str(oauth.get("refreshToken") or ""))
        expires_at = int(expires_raw) if isinstance(expires_raw, int | float) else None
        if expires_at is not None and expires_at <= now * 1000:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at / 1000))
            raise CredentialsError(
                ErrorClass.TOKEN_EXPIRED,
                f"the Claude OAuth access token expired at {when}; run `claude /login` and "
                "`kubectl gt auth sync --force`",
            )
        _install(home, data)
        return ClaudeAuth("oauth-file", passthrough, expires_at)
    if oauth_token:
        return ClaudeAuth("oauth-token", passthrough)
    if api_key:
        return ClaudeAuth("api-key", passthrough)
    raise CredentialsError(
        ErrorClass.CREDENTIALS_MISSING,
        "no Claude credentials: mount claudeCredsSecretRef (.credentials.json), or set "
        "apiKeySecretRef (ANTHROPIC_API_KEY) or CLAUDE_CODE_OAUTH_TOKEN",
    )
