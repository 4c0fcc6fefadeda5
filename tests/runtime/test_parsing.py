"""URL, branch and config parsing: the pure pieces the pod's behaviour hangs on."""

from __future__ import annotations

import subprocess

import pytest

from gastown.runtime import config, forge, ssh
from gastown.runtime.config import ConfigError


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("git@github.com:org/repo.git", "github.com", None),
        ("ssh://git@gitlab.example:2222/group/repo.git", "gitlab.example", 2222),
        ("ssh://[::1]:2200/srv/repo.git", "::1", 2200),
        ("git+ssh://git@bitbucket.org/org/repo.git", "bitbucket.org", None),
    ],
)
def test_ssh_urls(url: str, host: str, port: int | None) -> None:
    assert ssh.parse_ssh_url(url) == ssh.SshTarget(host, port)


@pytest.mark.parametrize(
    "url", ["https://github.com/org/repo.git", "file:///srv/repo.git", "/srv/repo.git", "./r"]
)
def test_non_ssh_urls(url: str) -> None:
    assert ssh.parse_ssh_url(url) is None


def test_known_hosts_names_non_default_ports_in_brackets() -> None:
    assert ssh.known_hosts_entry_name(ssh.SshTarget("h", 22)) == "h"
    assert ssh.known_hosts_entry_name(ssh.SshTarget("h", 2222)) == "[h]:2222"
    assert "-p 2222 h" in ssh.unknown_host_hint(ssh.SshTarget("h", 2222))


def test_builtin_known_hosts_cover_the_big_forges_with_three_key_types() -> None:
    lines = ssh.BUILTIN_KNOWN_HOSTS.strip().splitlines()
    for host in ("github.com", "gitlab.com", "bitbucket.org"):
        kinds = {line.split()[1] for line in lines if line.split()[0] == host}
        assert kinds == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}


@pytest.mark.parametrize(
    ("url", "host", "path"),
    [
        ("git@github.com:org/repo.git", "github.com", "org/repo"),
        ("https://github.com/org/repo", "github.com", "org/repo"),
        ("ssh://git@gitlab.com:22/group/sub/project.git", "gitlab.com", "group/sub/project"),
        ("https://ghe.corp/org/repo.git", "ghe.corp", "org/repo"),
    ],
)
def test_forge_repo_parsing(url: str, host: str, path: str) -> None:
    assert forge.parse_repo(url) == forge.RepoRef(host, path)


def test_forge_defaults() -> None:
    gh = forge.RepoRef("github.com", "o/r")
    assert forge.forge_kind(None, gh) == "github"
    assert forge.default_api_url("github", gh) == "https://api.github.com"
    ghe = forge.RepoRef("ghe.corp", "o/r")
    assert forge.default_api_url("github", ghe) == "https://ghe.corp/api/v3"
    gl = forge.RepoRef("gitlab.example.com", "g/p")
    assert forge.forge_kind(None, gl) == "gitlab"
    assert forge.default_api_url("gitlab", gl) == "https://gitlab.example.com/api/v4"


@pytest.mark.parametrize(
    "name",
    ["feature/x", "polecat/furiosa/dm-0001", "a$(b)`c`", "x;y|z&w", "we{ird}"],
)
def test_branch_names_git_accepts(name: str) -> None:
    assert config.check_branch_name(name, "b") == name
    assert git_accepts(name)


@pytest.mark.parametrize(
    "name", ["", "-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "x.lock", "a/"]
)
def test_branch_names_git_refuses(name: str) -> None:
    with pytest.raises(ConfigError):
        config.check_branch_name(name, "b")
    assert not git_accepts(name)


def git_accepts(name: str) -> bool:
    """What git itself says (the rules our check mirrors)."""
    proc = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, check=False
    )
    return proc.returncode == 0


def test_default_work_branch_is_sanitised() -> None:
    branch = config.default_work_branch("dm-1 $(x)", "furiosa")
    assert branch.startswith("polecat/furiosa/dm-1")
    assert config.check_branch_name(branch, "b") == branch


def test_defaults_and_json_lists() -> None:
    settings = config.load({"GT_AGENT_ARGS": '["--a", "b c"]', "GT_BEAD_ID": "dm-1"})
    assert settings.agent == "claude-code"
    assert settings.agent_args == ["--a", "b c"]
    assert settings.base_branch == "main"
    assert settings.max_idle_seconds == config.DEFAULT_IDLE_SECONDS
    assert settings.agent_time_budget_seconds is None
    assert config.load({"GT_AGENT_TIME_BUDGET_SECONDS": "90"}).agent_time_budget_seconds == 90
    with pytest.raises(ConfigError, match="GT_AGENT_TIME_BUDGET_SECONDS"):
        config.load({"GT_AGENT_TIME_BUDGET_SECONDS": "0"})
    with pytest.raises(ConfigError):
        config.load({"GT_AGENT_ARGS": '"--a"'})
    with pytest.raises(ConfigError):
        config.load({"GT_AGENT": "command"})
    with pytest.raises(ConfigError):
        config.load({"GT_MAX_IDLE_SECONDS": "soon"})


def test_at_alone_is_refused_because_git_reads_it_as_head() -> None:
    with pytest.raises(ConfigError):
        config.check_branch_name("@", "b")
