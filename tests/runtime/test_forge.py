"""Pull/merge requests through a local fake forge API that checks what the runtime sends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gastown.runtime import forge

from .conftest import Pod, git
from .fake_forge import FakeForge, ForgeRequest, Reply
from .fake_git_https import make_certificate
from .test_command_agent import command_env

TOKEN = "ghp_FORGETOKEN_0123456789abcdefghij"
BRANCH = "polecat/furiosa/dm-0001"


Serve = Callable[..., FakeForge]


@pytest.fixture
def forge_tls(sandbox: Path) -> tuple[Path, Path]:
    """The fake forge's certificate; the pod trusts it as a private CA (GT_GIT_CA_FILE)."""
    certs = sandbox / "forge-certs"
    certs.mkdir()
    certs.chmod(0o755)
    return make_certificate(certs)


@pytest.fixture
def forge_pod(pod: Pod, forge_tls: tuple[Path, Path]) -> Pod:
    secret = pod.secret_dir("forge", {"token": TOKEN + "\n"})
    pod.env.update(
        GT_FORGE_TOKEN_FILE=str(secret / "token"),
        GT_FORGE_REPOSITORY="myorg/myrepo",
        GT_GIT_CA_FILE=str(forge_tls[0]),
    )
    assert pod.run("init").returncode == 0
    return pod


@pytest.fixture
def serve(forge_tls: tuple[Path, Path]) -> Iterator[Serve]:
    """Starts fake forges (https with `forge_tls` unless `tls=False`); all stop at teardown."""
    started: list[FakeForge] = []

    def start(route: Callable[[ForgeRequest], Reply], tls: bool = True) -> FakeForge:
        fake = FakeForge(route, tls=forge_tls if tls else None).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def leaks(pod: Pod, *texts: str) -> bool:
    config = (pod.workspace / ".git" / "config").read_text()
    return any(TOKEN in t for t in (*texts, config))


def test_github_pull_request_is_opened_with_the_right_request(forge_pod: Pod, serve: Serve) -> None:
    def route(req: ForgeRequest) -> Reply:
        if req.method == "POST" and req.path == "/repos/myorg/myrepo/pulls":
            return 201, {"html_url": "https://github.example/myorg/myrepo/pull/7", "number": 7}
        return 404, {"message": "Not Found"}

    fake = serve(route)
    try:
        run = forge_pod.run(
            "run", GT_FORGE="github", GT_FORGE_API_URL=fake.url, **command_env("commit")
        )
    finally:
        fake.stop()

    assert run.returncode == 0, run.stderr
    assert run.result is not None
    assert run.result["pullRequestURL"] == "https://github.example/myorg/myrepo/pull/7"
    [request] = fake.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.body["head"] == BRANCH
    assert request.body["base"] == "main"
    assert "dm-0001" in request.body["title"]
    assert "furiosa" in request.body["body"]
    # The PR was opened after the push: the branch exists on the remote.
    assert (
        git("rev-parse", f"refs/heads/{BRANCH}", cwd=forge_pod.origin) == (run.result["headCommit"])
    )
    assert not leaks(forge_pod, run.stdout, run.stderr, json.dumps(run.result))


def test_existing_github_pull_request_is_reused(forge_pod: Pod, serve: Serve) -> None:
    def route(req: ForgeRequest) -> Reply:
        if req.method == "POST":
            return 422, {
                "message": "Validation Failed",
                "errors": [{"message": f"A pull request already exists for myorg:{BRANCH}."}],
            }
        if req.method == "GET" and req.path.startswith("/repos/myorg/myrepo/pulls?"):
            assert "head=myorg%3Apolecat%2Ffuriosa%2Fdm-0001" in req.path
            return 200, [{"html_url": "https://github.example/myorg/myrepo/pull/3"}]
        return 404, {}

    fake = serve(route)
    try:
        run = forge_pod.run(
            "run", GT_FORGE="github", GT_FORGE_API_URL=fake.url, **command_env("commit")
        )
    finally:
        fake.stop()

    assert run.returncode == 0, run.stderr
    assert run.result is not None
    assert run.result["pullRequestURL"] == "https://github.example/myorg/myrepo/pull/3"


def test_gitlab_merge_request(forge_pod: Pod, serve: Serve) -> None:
    def route(req: ForgeRequest) -> Reply:
        if req.method == "POST" and req.path == "/projects/myorg%2Fmyrepo/merge_requests":
            return 201, {"web_url": "https://gitlab.example/myorg/myrepo/-/merge_requests/5"}
        return 404, {}

    fake = serve(route)
    try:
        run = forge_pod.run(
            "run", GT_FORGE="gitlab", GT_FORGE_API_URL=fake.url, **command_env("commit")
        )
    finally:
        fake.stop()

    assert run.returncode == 0, run.stderr
    assert run.result is not None
    assert run.result["pullRequestURL"].endswith("/merge_requests/5")
    [request] = fake.requests
    assert request.headers["private-token"] == TOKEN
    assert request.body["source_branch"] == BRANCH
    assert request.body["target_branch"] == "main"


def test_forge_failure_keeps_the_pushed_work_and_says_so(forge_pod: Pod, serve: Serve) -> None:
    fake = serve(lambda req: (500, {"message": f"boom, your token was {TOKEN}"}))
    try:
        run = forge_pod.run(
            "run", GT_FORGE="github", GT_FORGE_API_URL=fake.url, **command_env("commit")
        )
    finally:
        fake.stop()

    assert run.returncode == 0
    assert run.result is not None
    assert run.result["outcome"] == "completed"
    assert run.result["pushed"] is True
    assert "pullRequestURL" not in run.result
    assert run.result["errorClass"] == "pull_request_failed"
    assert not leaks(forge_pod, run.stdout, run.stderr, json.dumps(run.result))


def test_no_pull_request_without_commits(forge_pod: Pod, serve: Serve) -> None:
    fake = serve(lambda req: (201, {"html_url": "https://never"}))
    try:
        run = forge_pod.run(
            "run", GT_FORGE="github", GT_FORGE_API_URL=fake.url, **command_env("nothing")
        )
    finally:
        fake.stop()

    assert run.returncode == 10
    assert fake.requests == []


def test_plain_http_forge_api_gets_no_request(forge_pod: Pod, serve: Serve) -> None:
    fake = serve(lambda req: (201, {"html_url": "https://never"}), tls=False)
    try:
        run = forge_pod.run(
            "run", GT_FORGE="github", GT_FORGE_API_URL=fake.url, **command_env("commit")
        )
    finally:
        fake.stop()

    assert fake.url.startswith("http://")
    assert fake.requests == []
    assert run.result is not None
    assert run.result["outcome"] == "completed"
    assert run.result["pushed"] is True
    assert run.result["errorClass"] == "pull_request_failed"
    assert "pull request skipped" in run.result["message"]
    assert "https" in run.result["message"]
    assert not leaks(forge_pod, run.stdout, run.stderr, json.dumps(run.result))


def test_a_redirect_is_not_followed_with_the_token(forge_pod: Pod, serve: Serve) -> None:
    elsewhere = serve(lambda req: (201, {"html_url": "https://stolen"}), tls=False)
    fake = serve(lambda req: (307, {"location": f"{elsewhere.url}{req.path}"}))
    try:
        run = forge_pod.run(
            "run", GT_FORGE="github", GT_FORGE_API_URL=fake.url, **command_env("commit")
        )
    finally:
        fake.stop()
        elsewhere.stop()

    assert len(fake.requests) == 1
    assert elsewhere.requests == []
    assert run.result is not None
    assert run.result["errorClass"] == "pull_request_failed"
    assert "307" in run.result["message"]


@pytest.mark.parametrize(
    ("attempt", "api_url"),
    [
        ("another host", "https://127.0.0.1:{port}"),
        ("plain http to the repository's host", "http://git.example.com:{port}"),
        ("credentials in the URL", "https://u:p@git.example.com:{port}"),
    ],
)
def test_the_token_goes_only_to_the_repositorys_forge(
    attempt: str, api_url: str, serve: Serve, forge_tls: tuple[Path, Path]
) -> None:
    fake = serve(lambda req: (201, {"html_url": "https://never"}))
    port = fake.url.rsplit(":", 1)[1]
    repo = forge.RepoRef("git.example.com", "myorg/myrepo")
    try:
        with pytest.raises(forge.ForgeRefused) as refused:
            forge.open_pull_request(
                kind="github",
                api_url=api_url.format(port=port),
                token=TOKEN,
                repo=repo,
                head=BRANCH,
                base="main",
                title="t",
                body="b",
                allowed_hosts=forge.allowed_api_hosts(repo, None),
                ca_file=forge_tls[0],
            )
    finally:
        fake.stop()

    assert fake.requests == [], attempt
    assert TOKEN not in str(refused.value)
    assert "pull request skipped" in str(refused.value)


def test_allowed_api_hosts() -> None:
    github = forge.RepoRef("github.com", "o/r")
    ghe = forge.RepoRef("git.corp.example", "o/r")
    assert forge.allowed_api_hosts(github, None) == {"github.com", "api.github.com"}
    assert forge.allowed_api_hosts(ghe, None) == {"git.corp.example"}
    assert forge.allowed_api_hosts(ghe, "https://api.corp.example/v3") == {
        "git.corp.example",
        "api.corp.example",
    }
    assert forge.allowed_api_hosts(forge.RepoRef("", "o/r"), None) == frozenset()
    # The default API URL of every forge is allowed for its repository.
    for repo in (github, ghe, forge.RepoRef("gitlab.example", "g/p")):
        kind = forge.forge_kind(None, repo)
        forge.check_api_url(forge.default_api_url(kind, repo), forge.allowed_api_hosts(repo, None))


def test_what_the_agent_prints_of_a_secret_is_redacted_everywhere(
    forge_pod: Pod, serve: Serve
) -> None:
    """Pod log (the agent's stdout/stderr as streamed), PR body, termination message."""
    key = "sk-ant-api03-LEAKEDKEY0123456789abcdefghij"

    def route(req: ForgeRequest) -> Reply:
        return 201, {"html_url": "https://github.example/myorg/myrepo/pull/9"}

    fake = serve(route)
    token_file = forge_pod.env["GT_FORGE_TOKEN_FILE"]
    try:
        run = forge_pod.run(
            "run",
            GT_FORGE="github",
            GT_FORGE_API_URL=fake.url,
            **command_env("leak", LEAK_FILE=token_file, LEAK_TEXT=key),
        )
    finally:
        fake.stop()

    assert run.returncode == 0, run.stderr
    assert "found ***" in run.stdout  # the agent's line reached the log, scrubbed
    [request] = fake.requests
    assert "done; the token is ***" in request.body["body"]
    termination = forge_pod.termination_log.read_text()
    assert "***" in termination
    for name, text in {
        "pod log (stdout)": run.stdout,
        "pod log (stderr)": run.stderr,
        "PR title": request.body["title"],
        "PR body": request.body["body"],
        "termination message": termination,
    }.items():
        assert TOKEN not in text, name
        assert key not in text, name
        assert "LEAKEDKEY" not in text, name
