"""HTTPS credentials reach git through our helper only: never URL, argv, env or .git/config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gastown.runtime import config, gitops
from gastown.runtime.config import ConfigError

TOKEN = "ghp_TESTTOKEN0123456789abcdefXYZ"


def fill(env: dict[str, str], request: str) -> str:
    """Ask real git for credentials the way its HTTP transport does."""
    proc = subprocess.run(
        ["git", "credential", "fill"],
        input=request,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout


def settings_for(tmp_path: Path, secret_files: dict[str, str]) -> config.Settings:
    secret = tmp_path / "git-secret"
    secret.mkdir()
    for name, value in secret_files.items():
        (secret / name).write_text(value + "\n")
    home = tmp_path / "home"
    home.mkdir()
    return config.load(
        {
            "HOME": str(home),
            "PATH": "/usr/bin:/bin",
            "GT_REPO_URL": "https://git.example.com/org/repo.git",
            "GT_GIT_SECRET_DIR": str(secret),
            "GT_WORKSPACE": str(tmp_path / "ws"),
        }
    )


def test_token_is_answered_by_the_helper_for_https(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"token": TOKEN})
    env = gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"})

    answer = fill(env, "protocol=https\nhost=git.example.com\npath=org/repo.git\n\n")

    assert f"password={TOKEN}" in answer
    assert "username=x-access-token" in answer
    # The token itself is nowhere in the environment git (and its children) get.
    assert all(TOKEN not in value for value in env.values())


def test_username_and_password(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"username": "bot", "password": "s3cret-passw0rd"})
    env = gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"})

    answer = fill(env, "protocol=https\nhost=git.example.com\n\n")

    assert "username=bot" in answer
    assert "password=s3cret-passw0rd" in answer


def test_no_credentials_over_plain_http(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"token": TOKEN})
    env = {**gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"}), "GIT_ASKPASS": "/bin/false"}

    answer = fill(env, "protocol=http\nhost=git.example.com\n\n")

    assert TOKEN not in answer


@pytest.mark.parametrize(
    "url",
    [
        "https://user:ghp_abc123456@github.com/o/r.git",
        "https://ghp_abc123456@github.com/o/r.git",
        "--upload-pack=evil",
    ],
)
def test_urls_with_embedded_credentials_or_options_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        gitops.check_repo_url(url)
