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

    answer = fill(env, "protocol=https\nhost=git.example.com\npath=org/repo\n\n")

    assert "username=bot" in answer
    assert "password=s3cret-passw0rd" in answer


def test_no_credentials_over_plain_http(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"token": TOKEN})
    env = {**gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"}), "GIT_ASKPASS": "/bin/false"}

    answer = fill(env, "protocol=http\nhost=git.example.com\npath=org/repo.git\n\n")

    assert TOKEN not in answer


@pytest.mark.parametrize(
    ("attempt", "request_text"),
    [
        ("another host", "protocol=https\nhost=evil.example.com\npath=org/repo.git\n"),
        (
            "same host, another port",
            "protocol=https\nhost=git.example.com:8443\npath=org/repo.git\n",
        ),
        (
            "same host, other repository",
            "protocol=https\nhost=git.example.com\npath=org/other.git\n",
        ),
        ("same host, repository's parent", "protocol=https\nhost=git.example.com\npath=org\n"),
        ("same host, longer path", "protocol=https\nhost=git.example.com\npath=org/repo.git/x\n"),
        ("http downgrade", "protocol=http\nhost=git.example.com\npath=org/repo.git\n"),
        ("no path (useHttpPath off)", "protocol=https\nhost=git.example.com\n"),
        ("ssh", "protocol=ssh\nhost=git.example.com\npath=org/repo.git\n"),
    ],
)
def test_the_helper_answers_only_for_the_rigs_repository(
    tmp_path: Path, attempt: str, request_text: str
) -> None:
    settings = settings_for(tmp_path, {"token": TOKEN})
    env = {**gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"}), "GIT_ASKPASS": "/bin/false"}

    answer = fill(env, request_text + "\n")

    assert TOKEN not in answer, attempt


@pytest.mark.parametrize(
    "path", ["org/repo.git", "org/repo", "/org/repo.git/", "org/repo/", "ORG/repo.git"]
)
def test_the_rigs_path_matches_with_or_without_dot_git(tmp_path: Path, path: str) -> None:
    settings = settings_for(tmp_path, {"token": TOKEN})
    env = gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"})

    answer = fill(env, f"protocol=https\nhost=GIT.example.com\npath={path}\n\n")

    # Host names are case-insensitive; paths are not (ORG/repo is another repository).
    assert (f"password={TOKEN}" in answer) is (path != "ORG/repo.git")


def test_git_sends_the_path_the_helper_needs(tmp_path: Path) -> None:
    """A URL (as git's transport hands it over) reaches the helper with its path."""
    settings = settings_for(tmp_path, {"token": TOKEN})
    env = gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"})

    assert f"password={TOKEN}" in fill(env, "url=https://git.example.com/org/repo.git\n\n")
    assert TOKEN not in fill(
        {**env, "GIT_ASKPASS": "/bin/false"}, "url=https://git.example.com/org/other.git\n\n"
    )


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


@pytest.fixture
def two_servers(sandbox: Path) -> Iterator[tuple[GitHttpsServer, GitHttpsServer, Path]]:
    """The rig's server (rig and decoy repositories) and a decoy server on another port."""
    from .conftest import make_origin

    projects = sandbox / "projects"
    projects.mkdir()
    make_origin(projects / "rig.git")
    make_origin(projects / "decoy.git")
    certs = sandbox / "certs"
    certs.mkdir()
    cert, key = make_certificate(certs)
    servers = [
        GitHttpsServer(
            project_root=projects,
            username="x-access-token",
            password=TOKEN,
            git_home=git_home_for_tests(),
            cert=cert,
            key=key,
        ).start()
        for _ in range(2)
    ]
    try:
        yield servers[0], servers[1], cert
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize(
    "attempt", ["insteadOf to another port", "insteadOf to another repository on the same host"]
)
def test_a_url_rewrite_planted_in_git_config_gets_no_credential(
    two_servers: tuple[GitHttpsServer, GitHttpsServer, Path], sandbox: Path, attempt: str
) -> None:
    rig_server, other_server, cert = two_servers
    rig_url = f"{rig_server.base_url}/rig.git"
    decoy_url = (
        f"{other_server.base_url}/rig.git"
        if "port" in attempt
        else f"{rig_server.base_url}/decoy.git"
    )
    secret = sandbox / "git-secret"
    secret.mkdir()
    (secret / "token").write_text(TOKEN + "\n")
    settings = config.load(
        {
            "HOME": str(sandbox),
            "PATH": "/usr/bin:/bin",
            "GT_REPO_URL": rig_url,
            "GT_GIT_SECRET_DIR": str(secret),
            "GT_GIT_CA_FILE": str(cert),
        }
    )
    env = {**gitops.transport_env(settings, {"PATH": "/usr/bin:/bin"}), "GIT_ASKPASS": "/bin/false"}
    # The helper's own defence: git here reads the planted .git/config (the runtime's git never
    # does: it runs in a repository of its own, see test_hostile_git_config.py).
    del env["GIT_DIR"], env["GIT_WORK_TREE"]
    work = sandbox / "work"
    work.mkdir()
    git("init", "-q", cwd=work)

    def ls_remote() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "ls-remote", rig_url],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    # Control: the rig's own URL gets the token and lists the repository.
    assert ls_remote().returncode == 0
    rig_server.seen.clear()
    git("config", f"url.{decoy_url}.insteadOf", rig_url, cwd=work)

    redirected = ls_remote()

    assert redirected.returncode != 0
    decoy_requests = other_server.seen if "port" in attempt else rig_server.seen
    assert decoy_requests, f"{attempt}: git did not follow the planted rewrite"
    assert all("decoy" in path for path, _ in rig_server.seen) or "port" in attempt
    assert all(auth is None for _, auth in decoy_requests), attempt
