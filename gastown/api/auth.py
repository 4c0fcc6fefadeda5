"""Claude credentials as they sit in a Secret: what kind they are, who may refresh them, and
the one document a pod may see. Pure: no I/O, so the CLI, the activities and the tests read
and write the same shapes.

Three kinds: an API key (never expires), a long-lived token from `claude setup-token`
(CLAUDE_CODE_OAUTH_TOKEN; the right choice for clusters), and a session from `claude /login`
(an access token valid for hours and a refresh token that rotates on use: after one refresh
the old refresh token is dead everywhere, the laptop it came from included). A session's
Secret is in one of two modes: **replica** (the laptop owns the session and `auth sync` copies
it; the cluster never refreshes) or **keeper** (`auth sync --handover` gave it to the cluster;
one keeper workflow per Secret refreshes it).

Nothing here puts a token in a repr, an exception or a log line: `Session.__repr__` masks.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from gastown.api.group import GROUP

SESSION_KEY: Final = ".credentials.json"
SESSION_KEYS: Final = (".credentials.json", "credentials.json")  # the second: older syncs
TOKEN_KEY: Final = "CLAUDE_CODE_OAUTH_TOKEN"  # noqa: S105 - a key's name, not a token
# In a polecat's own Secret (see `pod_secret_data`): the files its pod mounts.
POD_SESSION_KEY: Final = ".credentials.json"
POD_TOKEN_KEY: Final = "oauth-token"  # noqa: S105 - a key's name, not a token

# On a credentials Secret. The label lets the watcher watch only these Secrets.
LABEL_CREDENTIALS: Final = f"{GROUP}/credentials"
ANNOTATION_MODE: Final = f"{GROUP}/auth-mode"
ANNOTATION_SYNCED_AT: Final = f"{GROUP}/synced-at"
ANNOTATION_REFRESHED_AT: Final = f"{GROUP}/refreshed-at"
# A long-lived token's expiry when known (RFC 3339); a session carries its own.
ANNOTATION_EXPIRES_AT: Final = f"{GROUP}/expires-at"

# The next step when the cluster's session is gone (refused, or lost after a refresh): the
# one thing every message about it says.
# The next step wherever a Claude credentials Secret is missing, empty or expired.
SYNC_HINT: Final = "run `kubectl gt auth sync --force`"
HANDOVER_HINT: Final = (
    "run `kubectl gt auth sync --handover` with a fresh `claude /login` session (or switch the "
    "Secret to a long-lived token from `claude setup-token`)"
)


class AuthMode(StrEnum):
    REPLICA = "replica"  # the laptop owns the session; `auth sync [--watch]` copies it
    KEEPER = "keeper"  # the cluster owns it; the keeper workflow refreshes it


class CredentialKind(StrEnum):
    API_KEY = "api-key"
    LONG_LIVED_TOKEN = "long-lived-token"  # noqa: S105 - a kind's name
    SESSION = "session"
    ACCESS_TOKEN = "access-token"  # noqa: S105 - a session document without a refresh token


@dataclass(frozen=True)
class Session:
    """A `claude /login` session. `doc` is the whole credentials document, kept so that a
    rotation preserves the fields we do not read (scopes, subscriptionType)."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    doc: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        refresh = "set" if self.refresh_token else "none"
        return f"Session(expires_at={self.expires_at!r}, refresh_token={refresh})"

    def valid_for(self, seconds: float, now: datetime) -> bool:
        """Still valid `seconds` from `now` (no expiry known: yes)."""
        return self.expires_at is None or (self.expires_at - now).total_seconds() >= seconds


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def parse_session(raw: bytes | str) -> Session | None:
    """Claude Code's credentials document, or None when it is not one (never raises)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    oauth = doc.get("claudeAiOauth") if isinstance(doc, dict) else None
    if not isinstance(oauth, dict) or not isinstance(oauth.get("accessToken"), str):
        return None
    expires = oauth.get("expiresAt")
    refresh = oauth.get("refreshToken")
    return Session(
        access_token=oauth["accessToken"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=datetime.fromtimestamp(expires / 1000, tz=UTC)
        if isinstance(expires, int | float) and not isinstance(expires, bool)
        else None,
        doc=doc,
    )


def session_document(session: Session) -> str:
    """The document as Claude Code writes it, with this session's tokens and expiry."""
    doc = dict(session.doc)
    oauth = dict(doc.get("claudeAiOauth") or {})
    oauth["accessToken"] = session.access_token
    if session.refresh_token:
        oauth["refreshToken"] = session.refresh_token
    else:
        oauth.pop("refreshToken", None)
    if session.expires_at is not None:
        oauth["expiresAt"] = _ms(session.expires_at)
    doc["claudeAiOauth"] = oauth
    return json.dumps(doc)


def rotated(session: Session, access: str, refresh: str | None, expires_at: datetime) -> Session:
    """The session after a refresh; a token endpoint that sends no new refresh token keeps
    the old one valid."""
    return Session(access, refresh or session.refresh_token, expires_at, session.doc)


# What a pod's copy of a session keeps: nothing that renews anything. An allowlist, since
# Claude Code's document holds more than claudeAiOauth (mcpOAuth: MCP servers' logins, each
# with its own refresh token and client secret).
POD_SESSION_FIELDS: Final = ("accessToken", "expiresAt", "scopes", "subscriptionType")


def access_only(session: Session) -> str:
    """What a pod may see: the access token, its expiry and scopes, and nothing else, so a
    prompt-injected agent cannot take the long-lived session (it could use the access token
    until it expires)."""
    oauth = json.loads(session_document(session))["claudeAiOauth"]
    return json.dumps({"claudeAiOauth": {k: oauth[k] for k in POD_SESSION_FIELDS if k in oauth}})


def claude_only(session: Session) -> str:
    """The document `auth sync` stores: Claude's own login (claudeAiOauth) and nothing else of
    the file (MCP servers' logins have no business in the cluster)."""
    return json.dumps({"claudeAiOauth": json.loads(session_document(session))["claudeAiOauth"]})


def pod_secret_data(session: Session | None, long_lived_token: str | None) -> dict[str, str]:
    """The string data of a polecat's own Secret: one access token, never a refresh token."""
    if session is not None:
        return {POD_SESSION_KEY: access_only(session)}
    if long_lived_token:
        return {POD_TOKEN_KEY: long_lived_token}
    return {}


def mode_of(annotations: Mapping[str, str] | None) -> AuthMode:
    value = (annotations or {}).get(ANNOTATION_MODE, AuthMode.REPLICA.value)
    return AuthMode.KEEPER if value == AuthMode.KEEPER.value else AuthMode.REPLICA


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CredentialsInfo:
    """What may be said about a credentials Secret: never a token."""

    kind: CredentialKind
    mode: AuthMode
    expires_at: datetime | None
    synced_at: datetime | None
    refreshed_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def decoded(data: Mapping[str, str] | None) -> dict[str, bytes]:
    """A Secret's data map decoded; a value that is not base64 is left out (never shown: an
    error about it could echo a token)."""
    out: dict[str, bytes] = {}
    for key, value in (data or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            continue
    return out


def session_key(data: Mapping[str, bytes]) -> str | None:
    """Which of SESSION_KEYS holds the session document in a Secret's data (the first)."""
    return next((key for key in SESSION_KEYS if key in data), None)


def session_in(data: Mapping[str, bytes]) -> Session | None:
    """The session document among a Secret's decoded data, if any."""
    key = session_key(data)
    return parse_session(data[key]) if key is not None else None


def describe(
    data: Mapping[str, bytes], annotations: Mapping[str, str] | None
) -> CredentialsInfo | None:
    """A Claude credentials Secret (decoded data) described; None when it holds none."""
    notes = annotations or {}
    session = session_in(data)
    if session is not None:
        kind = CredentialKind.SESSION if session.refresh_token else CredentialKind.ACCESS_TOKEN
        expires = session.expires_at
    elif data.get(TOKEN_KEY):
        kind, expires = (
            CredentialKind.LONG_LIVED_TOKEN,
            parse_time(notes.get(ANNOTATION_EXPIRES_AT)),
        )
    else:
        return None
    return CredentialsInfo(
        kind=kind,
        mode=mode_of(notes),
        expires_at=expires,
        synced_at=parse_time(notes.get(ANNOTATION_SYNCED_AT)),
        refreshed_at=parse_time(notes.get(ANNOTATION_REFRESHED_AT)),
    )
