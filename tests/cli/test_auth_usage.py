"""Malformed `kubectl gt auth` input is refused before any cluster or Temporal is contacted:
exit 2, a message naming the flag, no traceback, and never the token it was given. KUBECONFIG
points nowhere, so nothing could be created even by mistake (reaching for the cluster would
fail differently, with exit 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TOKEN = "sk-ant-oat01-CANARYUSAGE-0123456789"
SESSION = json.dumps(
    {"claudeAiOauth": {"accessToken": TOKEN, "refreshToken": TOKEN + "r", "expiresAt": 4e12}}
)
ACCESS_ONLY = json.dumps({"claudeAiOauth": {"accessToken": TOKEN, "expiresAt": 4e12}})

# (argv after `auth`, stdin, files to write under HOME, the flag the message must name)
BAD: list[tuple[list[str], str, dict[str, str], str]] = [
    (["sync", "--secret", "Bad_Name"], "", {}, "--secret"),
    (["sync", "--secret", "claude-creds\n"], "", {}, "--secret"),
    (["sync", "--secret", "a;rm -rf /"], "", {}, "--secret"),
    (["sync"], "", {}, "--file"),  # no ~/.claude/.credentials.json
    (["sync", "--file", "$(id)"], "", {}, "--file"),
    (["sync", "--file", "{home}/notes.txt"], "", {"notes.txt": "theme = dark"}, "--file"),
    (["sync", "--file", "{home}/settings.json"], "", {"settings.json": '{"a": 1}'}, "--file"),
    (["sync", "--from", "nope"], "", {}, "--from"),
    (["sync", "--from", "keychain"], "", {}, "--from keychain"),  # no `security` on PATH
    (["sync", "--expires-at", "2030-01-01T00:00:00Z"], "", {}, "--expires-at"),
    (["sync", "--watch", "--interval", "-1"], "", {}, "--interval"),
    (["sync", "--watch", "--handover"], "", {}, "--watch"),
    (["sync", "--setup-token"], "", {}, "--setup-token"),
    (["sync", "--setup-token"], "two words", {}, "--setup-token"),
    (["sync", "--setup-token"], SESSION, {}, "--setup-token"),
    (["sync", "--setup-token", "--watch"], TOKEN, {}, "--watch"),
    (["sync", "--setup-token", "--file", "x"], TOKEN, {}, "--file"),
    (["sync", "--setup-token", "--expires-at", "soon"], TOKEN, {}, "--expires-at"),
    (["sync", "--setup-token", "--expires-at", TOKEN], TOKEN, {}, "--expires-at"),
    (
        ["sync", "--handover"],
        "",
        {".claude/.credentials.json": ACCESS_ONLY},
        "--handover",
    ),
    (["status", "--secret", "Bad_Name"], "", {}, "--secret"),
    (["refresh", "--secret", "x/y"], "", {}, "--secret"),
]


@pytest.mark.parametrize(
    ("args", "stdin", "files", "flag"), BAD, ids=[" ".join(a).strip() for a, *_ in BAD]
)
def test_bad_auth_input_is_a_usage_error(
    args: list[str], stdin: str, files: dict[str, str], flag: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for name, text in files.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_", "TEMPORAL_"))}
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",  # no `security` here
        KUBECONFIG=str(tmp_path / "no-such-kubeconfig"),
        TEMPORAL_ADDRESS="127.0.0.1:1",
    )
    result = subprocess.run(
        ["/usr/bin/kubectl", "gt", "auth", *[a.replace("{home}", str(home)) for a in args]],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert flag in result.stderr
    assert "Traceback" not in out
    assert TOKEN not in out
    assert not (tmp_path / "no-such-kubeconfig").exists()
