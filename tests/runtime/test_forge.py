"""Pull/merge requests through a local fake forge API that checks what the runtime sends."""

from __future__ import annotations

import json

import pytest

from .conftest import Pod, git
from .fake_forge import FakeForge, ForgeRequest, Reply
from .test_command_agent import command_env

TOKEN = "ghp_FORGETOKEN_0123456789abcdefghij"
BRANCH = "polecat/furiosa/dm-0001"


@pytest.fixture
def forge_pod(pod: Pod) -> Pod:
    secret = pod.secret_dir("forge", {"token": TOKEN + "\n"})
    pod.env.update(
        GT_FORGE_TOKEN_FILE=str(secret / "token"),
        GT_FORGE_REPOSITORY="myorg/myrepo",
    )
    assert pod.run("init").returncode == 0
    return pod


def serve(route: object) -> FakeForge:
    return FakeForge(route).start()  # type: ignore[arg-type]


def leaks(pod: Pod, *texts: str) -> bool:
    config = (pod.workspace / ".git" / "config").read_text()
    return any(TOKEN in t for t in (*texts, config))


def test_github_pull_request_is_opened_with_the_right_request(forge_pod: Pod) -> None:
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


def test_existing_github_pull_request_is_reused(forge_pod: Pod) -> None:
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


def test_gitlab_merge_request(forge_pod: Pod) -> None:
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


def test_forge_failure_keeps_the_pushed_work_and_says_so(forge_pod: Pod) -> None:
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


def test_no_pull_request_without_commits(forge_pod: Pod) -> None:
    fake = serve(lambda req: (201, {"html_url": "https://never"}))
    try:
        run = forge_pod.run(
            "run", GT_FORGE="github", GT_FORGE_API_URL=fake.url, **command_env("nothing")
        )
    finally:
        fake.stop()

    assert run.returncode == 10
    assert fake.requests == []
