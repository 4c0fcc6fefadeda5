"""`kubectl gt auth sync|status` against the sandbox: one key, no token printed, expiry read."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from kubernetes import client

from tests.e2e.conftest import Result

TOKEN = "sk-ant-oat01-CANARYAUTH-0123456789"
REFRESH = "sk-ant-ort01-CANARYREFRESH-0123456789"


def creds(path: Path, expires_in: float) -> Path:
    doc = {
        "claudeAiOauth": {
            "accessToken": TOKEN,
            "refreshToken": REFRESH,
            "expiresAt": int((time.time() + expires_in) * 1000),
        }
    }
    path.write_text(json.dumps(doc))
    return path


async def test_sync_then_status(
    gt: Callable[..., Awaitable[Result]], namespace: str, core: client.CoreV1Api, workdir: Path
) -> None:
    file = creds(workdir / "creds.json", 7200)
    synced = await gt("auth", "sync", "--file", str(file))
    assert synced.code == 0, synced.err
    assert f"Secret claude-creds synced in namespace {namespace}, valid until" in synced.out
    secret = core.read_namespaced_secret("claude-creds", namespace)
    assert list(secret.data) == [".credentials.json"]
    assert base64.b64decode(secret.data[".credentials.json"]).decode() == file.read_text()

    again = await gt("auth", "sync", "--file", str(file))
    assert again.code == 1
    assert "--force" in again.err
    forced = await gt("auth", "sync", "--file", str(file), "--force")
    assert forced.code == 0, forced.err

    status = await gt("auth", "status")
    assert status.code == 0
    assert "valid until" in status.out
    for result in (synced, again, forced, status):
        assert TOKEN not in result.out + result.err
        assert REFRESH not in result.out + result.err


async def test_expired_or_missing_credentials(
    gt: Callable[..., Awaitable[Result]], core: client.CoreV1Api, namespace: str, workdir: Path
) -> None:
    expired = await gt("auth", "sync", "--file", str(creds(workdir / "old.json", -60)))
    assert expired.code == 1
    assert "expired" in expired.err
    assert "claude /login" in expired.err
    assert core.list_namespaced_secret(namespace).items == []
    missing = await gt("auth", "sync", "--file", str(workdir / "nope.json"))
    assert missing.code == 2
    assert "--file" in missing.err
    none = await gt("auth", "status")
    assert none.code == 1
    assert "kubectl gt auth sync" in none.err
