"""The credentials shapes (gastown/api/auth.py): what a pod's copy keeps, what `auth sync`
stores, how a rotation keeps what it does not read, what may be said about a Secret, and the
one decode every reader of a credentials Secret uses (what is not base64 is left out, never
shown or raised)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from gastown.api import auth

ACCESS = "sk-ant-oat01-CANARYACCESS"
REFRESH = "sk-ant-ort01-CANARYREFRESH"
MCP_REFRESH = "mcp-refresh-CANARY"
MCP_SECRET = "mcp-client-secret-CANARY"
EXPIRES = datetime(2031, 5, 1, 12, 30, tzinfo=UTC)


def document() -> str:
    """A real-shaped ~/.claude/.credentials.json: Claude's login and an MCP server's."""
    return json.dumps(
        {
            "claudeAiOauth": {
                "accessToken": ACCESS,
                "refreshToken": REFRESH,
                "expiresAt": int(EXPIRES.timestamp() * 1000),
                "scopes": ["user:inference", "user:profile"],
                "subscriptionType": "max",
            },
            "mcpOAuth": {
                "linear|abc": {
                    "serverName": "linear",
                    "accessToken": "mcp-access",
                    "refreshToken": MCP_REFRESH,
                    "clientSecret": MCP_SECRET,
                }
            },
        }
    )


def test_a_pods_copy_holds_the_access_token_and_nothing_that_renews_anything() -> None:
    session = auth.parse_session(document())
    assert session is not None
    [key] = auth.pod_secret_data(session, None)
    copy = auth.pod_secret_data(session, None)[key]
    for secret in (REFRESH, MCP_REFRESH, MCP_SECRET, "refreshToken", "mcpOAuth"):
        assert secret not in copy
    oauth = json.loads(copy)["claudeAiOauth"]
    assert oauth["accessToken"] == ACCESS
    assert oauth["expiresAt"] == int(EXPIRES.timestamp() * 1000)
    assert oauth["scopes"] == ["user:inference", "user:profile"]
    # The runtime and Claude Code read it as a session document without a refresh token.
    again = auth.parse_session(copy)
    assert again is not None and (again.refresh_token, again.expires_at) == (None, EXPIRES)


def test_auth_sync_stores_claudes_login_only() -> None:
    session = auth.parse_session(document())
    assert session is not None
    stored = json.loads(auth.claude_only(session))
    assert list(stored) == ["claudeAiOauth"]
    assert stored["claudeAiOauth"]["refreshToken"] == REFRESH  # the keeper needs it


def test_a_rotation_keeps_the_fields_it_does_not_read() -> None:
    session = auth.parse_session(document())
    assert session is not None
    later = EXPIRES + timedelta(hours=8)
    new = auth.rotated(session, "new-access", "new-refresh", later)
    oauth = json.loads(auth.session_document(new))["claudeAiOauth"]
    assert (oauth["accessToken"], oauth["refreshToken"]) == ("new-access", "new-refresh")
    assert oauth["expiresAt"] == int(later.timestamp() * 1000)
    assert oauth["subscriptionType"] == "max"
    # An endpoint that sends no new refresh token leaves the old one valid.
    assert auth.rotated(session, "a", None, later).refresh_token == REFRESH


def test_what_may_be_said_about_a_secret_holds_no_token() -> None:
    data = {auth.SESSION_KEY: document().encode()}
    notes = {auth.ANNOTATION_MODE: "keeper", auth.ANNOTATION_SYNCED_AT: "2031-04-30T10:00:00Z"}
    info = auth.describe(data, notes)
    assert info is not None
    assert (info.kind, info.mode, info.expires_at) == (
        auth.CredentialKind.SESSION,
        auth.AuthMode.KEEPER,
        EXPIRES,
    )
    assert info.synced_at == datetime(2031, 4, 30, 10, tzinfo=UTC)
    session = auth.parse_session(document())
    for text in (repr(info), repr(session)):
        assert ACCESS not in text and REFRESH not in text
    token = auth.describe({auth.TOKEN_KEY: b"sk-ant-oat01-long"}, None)
    assert token is not None
    assert (token.kind, token.mode, token.expires_at) == (
        auth.CredentialKind.LONG_LIVED_TOKEN,
        auth.AuthMode.REPLICA,
        None,
    )
    assert auth.describe({"other": b"x"}, None) is None
    assert auth.parse_session(b"not json") is None


def test_decoded_leaves_out_what_is_not_base64() -> None:
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    data = {"good": b64(b"value"), "bad": "not base64!", auth.TOKEN_KEY: b64(b"tok")}
    assert auth.decoded(data) == {"good": b"value", auth.TOKEN_KEY: b"tok"}
    assert auth.decoded(None) == {} == auth.decoded({})


def test_session_key_names_the_key_session_in_reads() -> None:
    doc = document().encode()
    older = {"credentials.json": doc}
    assert auth.session_key(older) == "credentials.json"
    both = {"credentials.json": b"{}", auth.SESSION_KEY: doc}
    assert auth.session_key(both) == auth.SESSION_KEY
    session = auth.session_in(both)
    assert session is not None and session.refresh_token == REFRESH
    assert auth.session_key({auth.TOKEN_KEY: b"tok"}) is None
    assert auth.session_in({auth.TOKEN_KEY: b"tok"}) is None
