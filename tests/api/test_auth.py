"""gastown.api.auth's Secret-data helpers, the one decode every reader of a credentials Secret
uses (the keeper, `auth status`): what is not base64 is left out, never shown or raised."""

from __future__ import annotations

import base64
import json

from gastown.api import auth


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


DOC = json.dumps({"claudeAiOauth": {"accessToken": "at", "refreshToken": "rt"}}).encode()


def test_decoded_leaves_out_what_is_not_base64() -> None:
    data = {"good": b64(b"value"), "bad": "not base64!", auth.TOKEN_KEY: b64(b"tok")}
    assert auth.decoded(data) == {"good": b"value", auth.TOKEN_KEY: b"tok"}
    assert auth.decoded(None) == {} == auth.decoded({})


def test_session_key_names_the_key_session_in_reads() -> None:
    older = {"credentials.json": DOC}
    assert auth.session_key(older) == "credentials.json"
    both = {"credentials.json": b"{}", auth.SESSION_KEY: DOC}
    assert auth.session_key(both) == auth.SESSION_KEY
    session = auth.session_in(both)
    assert session is not None and session.refresh_token == "rt"
    assert auth.session_key({auth.TOKEN_KEY: b"tok"}) is None
    assert auth.session_in({auth.TOKEN_KEY: b"tok"}) is None
