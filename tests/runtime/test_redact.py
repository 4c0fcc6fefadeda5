"""The redactor scrubs registered secrets and known token shapes, as text and as raw bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gastown.runtime import redact


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-abcdefghijklmnop_QRS-tuv",
        "sk-ant-oat01-ABCDEFGHIJKLMNOPQRST",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "gho_abcdefghijklmnopqrstuvwxyz",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "glpat-abcdefghijklmnopqrst",
    ],
)
def test_known_token_shapes(secret: str) -> None:
    line = f"the key is {secret}, keep it"
    assert secret not in redact.redact(line)
    assert secret.encode() not in redact.redact_bytes(line.encode())
    assert redact.redact(line).startswith("the key is ***")


def test_bearer_and_url_userinfo() -> None:
    text = "Authorization: Bearer abc.DEF-123_xyz/=+ and https://bot:pw123456@host/x"
    out = redact.redact(text)
    assert "abc.DEF-123_xyz" not in out and "pw123456" not in out
    assert "Bearer ***" in out and "https://***@host/x" in out
    assert redact.redact_bytes(text.encode()) == out.encode()


def test_mounted_files_are_registered_but_not_usernames(tmp_path: Path) -> None:
    secret_dir = tmp_path / "git"
    secret_dir.mkdir()
    (secret_dir / "password").write_text("Zq9-mounted-password\n")
    (secret_dir / "username").write_text("polecatbot\n")
    creds = tmp_path / "claude"
    creds.mkdir()
    (creds / ".credentials.json").write_text(
        '{"claudeAiOauth": {"accessToken": "opaque-access-7f3a9", "expiresAt": 1}}'
    )
    redact.register_files([secret_dir, creds, None, tmp_path / "missing"])

    out = redact.redact("pw Zq9-mounted-password by polecatbot with opaque-access-7f3a9")

    assert out == "pw *** by polecatbot with ***"
    assert b"opaque-access-7f3a9" not in redact.redact_bytes(b"x opaque-access-7f3a9 y")
