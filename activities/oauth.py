"""The OAuth token endpoint, as Claude Code calls it to refresh a `claude /login` session.

One POST of `{"grant_type": "refresh_token", "refresh_token": …, "client_id": …}` with the
standard library's urllib (in a thread: it blocks). A session's refresh token rotates on use,
so the answer must be stored before anything else happens (activities/keeper.py does).

Nothing here ever puts a token in an exception, a repr or a log line, and the URL is shown
only as scheme and host (a misconfigured one might carry a secret). Plain http is refused
except to a loopback host (the tests' fake endpoint); redirects are not followed, so the
refresh token can only ever go to the configured host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from gastown.runtime import redact

DEFAULT_TOKEN_URL: Final = "https://console.anthropic.com/v1/oauth/token"  # noqa: S105 - a URL
# Claude Code's public OAuth client (a public client: no secret goes with it).
DEFAULT_CLIENT_ID: Final = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
ENV_TOKEN_URL: Final = "GASTOWN_OAUTH_TOKEN_URL"  # noqa: S105 - an env var's name
ENV_CLIENT_ID: Final = "GASTOWN_OAUTH_CLIENT_ID"
# When the answer names no lifetime: an hour, so the keeper refreshes again soon rather than
# treating the session as valid forever.
DEFAULT_EXPIRES_IN: Final = 3600
ANSWER_MAX: Final = 64 * 1024


class OAuthConfigError(ValueError):
    """A token URL the worker must not use; the message names the option to fix."""


class TokenEndpointError(Exception):
    """The refresh did not happen: the endpoint was unreachable, failed (5xx, 429), or answered
    something unusable. `retryable` says whether trying again may help. Never holds a token."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class RefreshRejected(TokenEndpointError):
    """invalid_grant: the refresh token is dead (used elsewhere, revoked). Only a new session
    helps: `kubectl gt auth sync --handover`, or a long-lived `claude setup-token`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def mask(url: str) -> str:
    """The URL as it may be shown: scheme and host (and port) only."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """The token URL, if it may carry a refresh token: https, or http to a loopback host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise OAuthConfigError(
            f"the OAuth token URL ({ENV_TOKEN_URL} / --oauth-token-url) is not a URL"
        ) from None
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _loopback(parts.hostname):
        return url
    raise OAuthConfigError(
        f"the OAuth token URL ({ENV_TOKEN_URL} / --oauth-token-url) {mask(url)} must be https "
        "(plain http only to a loopback host)"
    )


@dataclass(frozen=True)
class OAuthConfig:
    """Where the keeper refreshes sessions: the worker's `--oauth-token-url` /
    `--oauth-client-id` (env GASTOWN_OAUTH_TOKEN_URL, GASTOWN_OAUTH_CLIENT_ID), and how long
    before a session's expiry it refreshes ahead."""

    token_url: str = DEFAULT_TOKEN_URL
    client_id: str = DEFAULT_CLIENT_ID
    timeout_seconds: float = 20.0
    refresh_margin_seconds: int = 600

    def __post_init__(self) -> None:
        check_url(self.token_url)
        if not self.client_id.strip():
            raise OAuthConfigError(
                f"the OAuth client id ({ENV_CLIENT_ID} / --oauth-client-id) is empty"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OAuthConfig:
        env = os.environ if env is None else env
        return cls(
            token_url=env.get(ENV_TOKEN_URL) or DEFAULT_TOKEN_URL,
            client_id=env.get(ENV_CLIENT_ID) or DEFAULT_CLIENT_ID,
        )


@dataclass(frozen=True)
class TokenAnswer:
    """What a successful refresh gave: a new access token, maybe a new refresh token (the old
    one is then dead), and the access token's lifetime in seconds."""

    access_token: str
    refresh_token: str | None
    expires_in: int

    def __repr__(self) -> str:
        refresh = "rotated" if self.refresh_token else "kept"
        return f"TokenAnswer(expires_in={self.expires_in}, refresh_token={refresh})"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: the refresh token goes to the configured host or nowhere."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _error_code(raw: bytes) -> str:
    """The OAuth `error` field of an error answer (a short code, never a token), or ''."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return ""
    code = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(code, dict):  # some endpoints nest it: {"error": {"type": ...}}
        code = code.get("type")
    return code[:64] if isinstance(code, str) and code.isascii() else ""


def refresh_blocking(config: OAuthConfig, refresh_token: str) -> TokenAnswer:
    """One POST to the token endpoint; blocks (run it in a thread)."""
    redact.register(refresh_token)
    url = check_url(config.token_url)
    where = mask(url)
    body = json.dumps(
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": config.client_id,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - https, or http to loopback: check_url
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=config.timeout_seconds) as response:
            raw = response.read(ANSWER_MAX)
    except urllib.error.HTTPError as exc:
        code = _error_code(exc.read(ANSWER_MAX))
        exc.close()
        said = f" ({code})" if code else ""
        if exc.code in (400, 401) and code == "invalid_grant":
            raise RefreshRejected(
                f"the token endpoint {where} refused the refresh token (invalid_grant): the "
                "session was refreshed elsewhere or revoked"
            ) from None
        retryable = exc.code >= 500 or exc.code in (408, 429)
        raise TokenEndpointError(
            f"the token endpoint {where} answered {exc.code}{said}", retryable=retryable
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TokenEndpointError(
            f"the token endpoint {where} could not be reached: {type(reason).__name__}",
            retryable=True,
        ) from None
    return _parse(raw, where)


def _parse(raw: bytes, where: str) -> TokenAnswer:
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    access = doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(access, str) or not access:
        raise TokenEndpointError(
            f"the token endpoint {where} answered without an access_token", retryable=False
        )
    refresh = doc.get("refresh_token")
    redact.register(access)
    redact.register(refresh if isinstance(refresh, str) else None)
    expires_in = doc.get("expires_in")
    lifetime = (
        expires_in
        if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0
        else DEFAULT_EXPIRES_IN
    )
    return TokenAnswer(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=lifetime,
    )


async def refresh(config: OAuthConfig, refresh_token: str) -> TokenAnswer:
    """refresh_blocking, off the event loop."""
    return await asyncio.to_thread(refresh_blocking, config, refresh_token)
