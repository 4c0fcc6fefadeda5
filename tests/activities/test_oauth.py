"""The token endpoint client against the fake endpoint of tests/oauth.py (real HTTP on
loopback): a refresh, its rotation, invalid_grant, a retryable 500, the URL rules, and no token
in any error."""

from __future__ import annotations

import socket

import pytest

from gastown.activities import oauth
from tests.oauth import CLIENT_ID, token_endpoint


def config(url: str, timeout_seconds: float = 20.0) -> oauth.OAuthConfig:
    return oauth.OAuthConfig(token_url=url, client_id=CLIENT_ID, timeout_seconds=timeout_seconds)


async def test_a_refresh_answers_new_tokens_and_sends_what_claude_code_sends() -> None:
    with token_endpoint(expires_in=7200) as endpoint:
        endpoint.seed("seed-refresh")
        answer = await oauth.refresh(config(endpoint.url), "seed-refresh")
        assert answer.access_token == "fake-access-0001"
        assert answer.refresh_token == "fake-refresh-0001"
        assert answer.expires_in == 7200
        assert endpoint.requests == [
            {"grant_type": "refresh_token", "refresh_token": "seed-refresh", "client_id": CLIENT_ID}
        ]
        assert "fake" not in repr(answer)  # a repr never shows a token


async def test_the_rotated_token_works_once_and_the_old_one_is_refused() -> None:
    with token_endpoint() as endpoint:
        endpoint.seed("seed-refresh")
        first = await oauth.refresh(config(endpoint.url), "seed-refresh")
        assert first.refresh_token is not None
        second = await oauth.refresh(config(endpoint.url), first.refresh_token)
        assert second.refresh_token == "fake-refresh-0002"
        with pytest.raises(oauth.RefreshRejected) as info:
            await oauth.refresh(config(endpoint.url), first.refresh_token)
        assert not info.value.retryable
        assert "invalid_grant" in str(info.value)
        assert endpoint.refreshes() == 3


async def test_invalid_grant_names_neither_token_nor_url_path() -> None:
    with token_endpoint(reject_all=True) as endpoint:
        with pytest.raises(oauth.RefreshRejected) as info:
            await oauth.refresh(config(endpoint.url + "?key=hush"), "secret-refresh-token")
        text = f"{info.value!s} {info.value!r} {info.value.__cause__!r}"
        # The fake endpoint echoes the token in its error_description: it must not get through.
        assert "secret-refresh-token" not in text
        assert "hush" not in text and "/v1/oauth" not in text
        host = endpoint.url.split("/v1/")[0]
        assert f"{host}/…" in str(info.value)


async def test_a_500_is_retryable_and_the_next_try_succeeds() -> None:
    with token_endpoint(fail_next=1) as endpoint:
        endpoint.seed("seed-refresh")
        with pytest.raises(oauth.TokenEndpointError) as info:
            await oauth.refresh(config(endpoint.url), "seed-refresh")
        assert info.value.retryable and not isinstance(info.value, oauth.RefreshRejected)
        assert "answered 500" in str(info.value)
        answer = await oauth.refresh(config(endpoint.url), "seed-refresh")
        assert answer.access_token == "fake-access-0001"


async def test_a_wrong_client_id_is_not_retried_and_says_what_the_endpoint_said() -> None:
    with token_endpoint() as endpoint:
        endpoint.seed("seed-refresh")
        with pytest.raises(oauth.TokenEndpointError) as info:
            await oauth.refresh(
                oauth.OAuthConfig(token_url=endpoint.url, client_id="someone-else"),
                "seed-refresh",
            )
        assert not info.value.retryable
        assert "answered 401 (invalid_client)" in str(info.value)
        assert "seed-refresh" not in str(info.value)


async def test_an_unreachable_endpoint_is_retryable() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(oauth.TokenEndpointError) as info:
        await oauth.refresh(
            config(f"http://127.0.0.1:{port}/v1/oauth/token", timeout_seconds=5), "tok-x"
        )
    assert info.value.retryable
    assert "could not be reached" in str(info.value) and "tok-x" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/v1/oauth/token",
        "http://10.0.0.1/token",
        "ftp://127.0.0.1/token",
        "https:///token",
        "not a url",
    ],
)
def test_plain_http_beyond_loopback_and_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(oauth.OAuthConfigError) as info:
        oauth.OAuthConfig(token_url=url)
    assert "GASTOWN_OAUTH_TOKEN_URL" in str(info.value)
    assert "/token" not in str(info.value)  # the path is never shown


def test_https_anywhere_and_http_to_loopback_are_accepted() -> None:
    for url in (
        oauth.DEFAULT_TOKEN_URL,
        "http://127.0.0.1:8080/t",
        "http://localhost/t",
        "http://[::1]:9/t",
    ):
        assert oauth.OAuthConfig(token_url=url).token_url == url


def test_the_environment_configures_the_endpoint() -> None:
    default = oauth.OAuthConfig.from_env({})
    assert default.token_url == "https://console.anthropic.com/v1/oauth/token"
    assert default.client_id == "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    chosen = oauth.OAuthConfig.from_env(
        {oauth.ENV_TOKEN_URL: "https://id.example.org/t", oauth.ENV_CLIENT_ID: "abc"}
    )
    assert (chosen.token_url, chosen.client_id) == ("https://id.example.org/t", "abc")
    with pytest.raises(oauth.OAuthConfigError):
        oauth.OAuthConfig.from_env({oauth.ENV_TOKEN_URL: "http://example.org/t"})


async def test_a_redirect_is_not_followed() -> None:
    """The refresh token goes to the configured host or nowhere."""
    import http.server
    import threading

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.2:1/steal")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/t"
        with pytest.raises(oauth.TokenEndpointError) as info:
            await oauth.refresh(config(url), "tok-redirect")
        assert "answered 307" in str(info.value) and not info.value.retryable
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
