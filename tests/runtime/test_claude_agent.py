"""The real Claude Code CLI, driven by gt-polecat, against a scripted Messages API on loopback."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gastown.runtime.result import EXIT_CODES, Outcome

from .conftest import Pod, git
from .fake_anthropic import FakeAnthropic, auth_error_step, bash_step, hang_step, text_step

API_KEY = "sk-ant-api03-TESTKEY-0123456789abcdef"
ACCESS_TOKEN = "sk-ant-oat01-TESTACCESS-0123456789abcdef"
REFRESH_TOKEN = "sk-ant-ort01-TESTREFRESH-0123456789abcdef"
OTHER_TOKEN = "sk-ant-oat01-NOTTHISONE-0123456789abcdef"

COMMIT_SCRIPT = [
    bash_step(
        "printf 'hello from claude\\n' > hello.txt && git add hello.txt && "
        "git commit -q -m 'dm-0001: add hello'"
    ),
    text_step("Added hello.txt and committed it."),
]


@pytest.fixture
def fake_api() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic(list(COMMIT_SCRIPT)).start()
    try:
        yield fake
    finally:
        fake.stop()


def claude_env(claude_bin: Path, fake: FakeAnthropic, **extra: str) -> dict[str, str]:
    return {
        "GT_AGENT": "claude-code",
        "GT_CLAUDE_BIN": str(claude_bin),
        "ANTHROPIC_BASE_URL": fake.url,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        **extra,
    }


def oauth_secret(pod: Pod, expires_in: float) -> Path:
    doc = {
        "claudeAiOauth": {
            "accessToken": ACCESS_TOKEN,
            "refreshToken": REFRESH_TOKEN,
            "expiresAt": int((time.time() + expires_in) * 1000),
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }
    return pod.secret_dir("claude-creds", {".credentials.json": json.dumps(doc)})


def assert_no_secret_leaks(pod: Pod, texts: list[str], secrets: list[str]) -> None:
    config = (pod.workspace / ".git" / "config").read_text()
    remotes = git("remote", "-v", cwd=pod.workspace)
    for secret in secrets:
        for text in [*texts, config, remotes]:
            assert secret not in text


def test_api_key_run_commits_pushes_and_reports(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run(
        "run",
        GT_MODEL="claude-sonnet-test",
        GT_MAX_TURNS="5",
        **claude_env(claude_bin, fake_api, ANTHROPIC_API_KEY=API_KEY),
    )

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.result is not None
    assert run.result["outcome"] == "completed"
    assert run.result["pushed"] is True
    assert {r.body["model"] for r in fake_api.main_requests()} == {"claude-sonnet-test"}
    assert run.result["commits"] == 1
    assert run.result["agentTurns"] == 2
    assert run.result["agentCostUSD"] > 0
    assert run.result["agentSessionID"]
    head = "refs/heads/polecat/furiosa/dm-0001"
    assert git("show", f"{head}:hello.txt", cwd=pod.origin) == "hello from claude"
    # The runtime carries the agent's files, not its commits (docs/runtime.md, "Why the
    # runtime's git trusts nothing in the workspace"), under the configured author.
    assert git("log", "-1", "--format=%s|%an", head, cwd=pod.origin) == (
        "dm-0001: work of the agent|Polecat Furiosa"
    )
    main = fake_api.main_requests()
    assert main, "claude never called the model"
    assert all(r.headers.get("x-api-key") == API_KEY for r in main)
    assert "dm-0001" in json.dumps(main[0].body)
    assert '"type": "result"' in run.stdout or '"type":"result"' in run.stdout
    assert_no_secret_leaks(pod, [run.stdout, run.stderr, json.dumps(run.result)], [API_KEY])


def test_oauth_credentials_file_is_installed_and_used(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    creds = oauth_secret(pod, expires_in=3600)
    assert pod.run("init").returncode == 0

    run = pod.run("run", **claude_env(claude_bin, fake_api, GT_CLAUDE_CREDS_DIR=str(creds)))

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.result is not None
    assert run.result["outcome"] == "completed"
    main = fake_api.main_requests()
    assert main
    assert all(r.headers.get("authorization") == f"Bearer {ACCESS_TOKEN}" for r in main)
    installed = pod.home / ".claude" / ".credentials.json"
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert installed.stat().st_uid == pod.uid
    assert_no_secret_leaks(
        pod,
        [run.stdout, run.stderr, json.dumps(run.result)],
        [ACCESS_TOKEN, REFRESH_TOKEN],
    )


def test_long_lived_oauth_token_from_env(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    assert pod.run("init").returncode == 0

    run = pod.run("run", **claude_env(claude_bin, fake_api, CLAUDE_CODE_OAUTH_TOKEN=ACCESS_TOKEN))

    assert run.returncode == 0, run.stderr[-3000:]
    assert all(
        r.headers.get("authorization") == f"Bearer {ACCESS_TOKEN}" for r in fake_api.main_requests()
    )


def test_long_lived_token_from_the_mounted_oauth_token_file(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    """The polecat's own Secret holds a long-lived token as the file `oauth-token`: the
    runtime hands it to Claude as CLAUDE_CODE_OAUTH_TOKEN (and it wins over the env var)."""
    creds = pod.secret_dir("claude-creds", {"oauth-token": ACCESS_TOKEN + "\n"})
    assert pod.run("init").returncode == 0

    run = pod.run(
        "run",
        **claude_env(
            claude_bin,
            fake_api,
            GT_CLAUDE_CREDS_DIR=str(creds),
            CLAUDE_CODE_OAUTH_TOKEN=OTHER_TOKEN,
        ),
    )

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.result is not None and run.result["outcome"] == "completed"
    main = fake_api.main_requests()
    assert main, "claude never called the model"
    assert all(r.headers.get("authorization") == f"Bearer {ACCESS_TOKEN}" for r in main)
    assert not (pod.home / ".claude" / ".credentials.json").exists()
    assert_no_secret_leaks(pod, [run.stdout, run.stderr, json.dumps(run.result)], [ACCESS_TOKEN])


def test_access_only_document_from_the_polecats_secret_is_used(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    """What issue_pod_token writes for a session: the document without its refresh token."""
    doc = {
        "claudeAiOauth": {
            "accessToken": ACCESS_TOKEN,
            "expiresAt": int((time.time() + 3600) * 1000),
            "scopes": ["user:inference"],
        }
    }
    creds = pod.secret_dir("claude-creds", {".credentials.json": json.dumps(doc)})
    assert pod.run("init").returncode == 0

    run = pod.run("run", **claude_env(claude_bin, fake_api, GT_CLAUDE_CREDS_DIR=str(creds)))

    assert run.returncode == 0, run.stderr[-3000:]
    main = fake_api.main_requests()
    assert main and all(r.headers.get("authorization") == f"Bearer {ACCESS_TOKEN}" for r in main)
    installed = json.loads((pod.home / ".claude" / ".credentials.json").read_text())
    assert "refreshToken" not in installed["claudeAiOauth"]


def test_expired_token_fails_fast_without_calling_the_model(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    creds = oauth_secret(pod, expires_in=-60)
    assert pod.run("init").returncode == 0

    run = pod.run("run", **claude_env(claude_bin, fake_api, GT_CLAUDE_CREDS_DIR=str(creds)))

    assert run.returncode == EXIT_CODES[Outcome.AUTH_EXPIRED] == 12
    assert run.result is not None
    assert run.result["outcome"] == "auth_expired"
    assert run.result["errorClass"] == "token_expired"
    assert "auth sync" in run.result["message"]
    assert fake_api.requests == []
    assert_no_secret_leaks(
        pod, [run.stdout, run.stderr, json.dumps(run.result)], [ACCESS_TOKEN, REFRESH_TOKEN]
    )


def test_model_that_never_answers_is_stuck(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    fake_api.script[:] = [hang_step()]
    assert pod.run("init").returncode == 0

    run = pod.run(
        "run",
        GT_MAX_IDLE_SECONDS="4",
        **claude_env(claude_bin, fake_api, ANTHROPIC_API_KEY=API_KEY),
    )

    assert run.returncode == EXIT_CODES[Outcome.STUCK] == 13, run.stderr[-2000:]
    assert run.result is not None
    assert run.result["outcome"] == "stuck"
    assert fake_api.main_requests(), "the agent never reached the model"
    assert run.elapsed < 60
    # The whole agent process group is gone.
    assert _processes_in(pod.workspace) == []


def test_hostile_task_reaches_claude_intact(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path, sandbox: Path
) -> None:
    canary = sandbox / "claude-canary"
    hostile = (
        f"Fix the quoting: ' \" $(touch {canary}) `touch {canary}` ; touch {canary}\n"
        + "\\n $HOME ${IFS} %s {{}} \n" * 10
    )
    task = hostile + ("lorem ipsum dolor sit amet " * 4000)[: 100_000 - len(hostile)]
    task_file = pod.root / "task.md"
    task_file.write_text(task)
    fake_api.script[:] = [text_step("nothing to do")]
    assert pod.run("init").returncode == 0

    run = pod.run(
        "run",
        GT_TASK_FILE=str(task_file),
        **claude_env(claude_bin, fake_api, ANTHROPIC_API_KEY=API_KEY),
    )

    assert run.returncode == EXIT_CODES[Outcome.NO_CHANGES], run.stderr[-3000:]
    first = fake_api.main_requests()[0].body
    user_text = "".join(
        block.get("text", "")
        for message in first["messages"]
        if message["role"] == "user"
        for block in (
            message["content"]
            if isinstance(message["content"], list)
            else [{"text": message["content"]}]
        )
    )
    assert task.strip() in user_text
    assert not canary.exists()


def _processes_in(directory: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd.startswith(str(directory)):
            found.append(int(entry))
    return found


def test_token_refused_mid_run_is_auth_expired(
    pod: Pod, fake_api: FakeAnthropic, claude_bin: Path
) -> None:
    fake_api.script[:] = [auth_error_step()]
    creds = oauth_secret(pod, expires_in=3600)
    assert pod.run("init").returncode == 0

    run = pod.run("run", **claude_env(claude_bin, fake_api, GT_CLAUDE_CREDS_DIR=str(creds)))

    assert run.returncode == EXIT_CODES[Outcome.AUTH_EXPIRED], run.stdout[-3000:]
    assert run.result is not None
    assert run.result["outcome"] == "auth_expired"
    assert fake_api.main_requests()
