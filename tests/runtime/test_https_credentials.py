"""HTTPS credentials reach git through our helper only: never URL, argv, env or .git/config."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gastown.runtime import config, gitops
from gastown.runtime.config import ConfigError

from .conftest import Pod, git, git_home_for_tests
from .fake_git_https import GitHttpsServer, make_certificate
from .test_command_agent import command_env

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


@pytest.fixture
def https_pod(pod: Pod, sandbox: Path) -> Iterator[tuple[Pod, GitHttpsServer]]:
    certs = sandbox / "certs"
    certs.mkdir()
    certs.chmod(0o755)
    cert, key = make_certificate(certs)
    server = GitHttpsServer(
        project_root=pod.origin.parent,
        username="x-access-token",
        password=TOKEN,
        git_home=git_home_for_tests(),
        cert=cert,
        key=key,
    ).start()
    secret = pod.secret_dir("git-creds", {"token": TOKEN + "\n"})
    pod.env.update(
        GT_REPO_URL=f"{server.base_url}/{pod.origin.name}",
        GT_GIT_SECRET_DIR=str(secret),
        GT_GIT_CA_FILE=str(cert),
    )
    try:
        yield pod, server
    finally:
        server.stop()


def test_clone_and_push_over_https_with_a_token(
    https_pod: tuple[Pod, GitHttpsServer],
) -> None:
    pod, server = https_pod

    init = pod.run("init")
    assert init.returncode == 0, init.stderr
    run = pod.run("run", **command_env("commit"))

    assert run.returncode == 0, run.stderr
    assert run.result is not None
    assert run.result["pushed"] is True
    assert (
        git("rev-parse", "refs/heads/polecat/furiosa/dm-0001", cwd=pod.origin)
        == (run.result["headCommit"])
    )
    # git had to ask: first unauthenticated, then with the helper's answer.
    assert any(auth is None for _, auth in server.seen)
    assert any(auth is not None for _, auth in server.seen)
    assert all(TOKEN not in path for path, _ in server.seen)
    config = (pod.workspace / ".git" / "config").read_text()
    for text in (config, init.stdout, init.stderr, run.stdout, run.stderr, json.dumps(run.result)):
        assert TOKEN not in text


def test_wrong_token_is_auth_refused(https_pod: tuple[Pod, GitHttpsServer], sandbox: Path) -> None:
    pod, _ = https_pod
    wrong = pod.secret_dir("wrong-creds", {"token": "ghp_WRONG_0123456789"})

    run = pod.run("init", GT_GIT_SECRET_DIR=str(wrong))

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "auth_refused"
    assert "ghp_WRONG_0123456789" not in run.stderr + json.dumps(run.result)


def test_transient_push_failures_are_retried(https_pod: tuple[Pod, GitHttpsServer]) -> None:
    pod, server = https_pod
    assert pod.run("init").returncode == 0
    server.fail_pushes = 1

    run = pod.run("run", **command_env("commit"))

    assert run.returncode == 0, run.stderr
    assert "retrying" in run.stderr
    assert server.fail_pushes == 0
    assert run.result is not None
    assert run.result["pushed"] is True


def test_push_gives_up_after_the_attempts(https_pod: tuple[Pod, GitHttpsServer]) -> None:
    pod, server = https_pod
    assert pod.run("init").returncode == 0
    server.fail_pushes = 100

    run = pod.run("run", GT_PUSH_ATTEMPTS="2", **command_env("commit"))

    assert run.returncode == 14
    assert run.result is not None
    assert run.result["errorClass"] == "push_transient"
    assert server.fail_pushes == 98
