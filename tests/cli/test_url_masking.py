"""CLI errors never hand back the password in a URL: `https://user:***@host/…`.

Through the real `kubectl gt` (subprocess, as kubectl runs the plugin) with KUBECONFIG
pointing nowhere, so an exit 2 also proves nothing was sent anywhere; and the one renderer
(`errors_end_cleanly`) for messages that come from elsewhere (the API server, a Failure).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from gastown.cli.output import mask_url_passwords
from gastown.cli.session import Failure, errors_end_cleanly

BIN = Path(sys.executable).parent
TOKEN = "ghp_S3cr3tT0ken"


def run_gt(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        # click's errors are boxed by rich at the terminal's width: one line for each message.
        "COLUMNS": "300",
    }
    return subprocess.run(
        ["/usr/bin/kubectl", "gt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://user:{TOKEN}@git.example.com/org/repo.git", "https://user:***@git.example.com/"),
        (f"https://{TOKEN}@git.example.com/org/repo.git", "https://***@git.example.com/"),
        (f"ssh://git:{TOKEN}@git.example.com/org/repo.git", "ssh://git:***@git.example.com/"),
    ],
)
def test_rig_create_with_a_password_in_the_url_masks_it(
    url: str, shown: str, tmp_path: Path
) -> None:
    result = run_gt(["rig", "create", "myrig", "--git-url", url, "--prefix", "dm"], tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert TOKEN not in result.stdout + result.stderr
    assert f"error: --git-url: '{shown}" in result.stderr
    assert "credentials go in a Secret" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "no-such-kubeconfig").exists()


@pytest.mark.parametrize(
    ("attempt", "command"),
    [
        (
            "an unexpected extra argument",
            [
                "kubectl",
                "gt",
                "rig",
                "create",
                "x",
                "{url}",
                "--git-url",
                "https://h/r",
                "--prefix",
                "dm",
            ],
        ),
        ("an unknown command", ["kubectl", "gt", "{url}"]),
        ("the operator's extra argument", ["gastown-operator", "worker", "{url}"]),
        ("the operator's own check", ["gastown-operator", "worker", "--log-level", "{url}"]),
    ],
)
def test_clicks_own_usage_errors_mask_url_passwords(
    attempt: str, command: list[str], tmp_path: Path
) -> None:
    """click prints its parsing errors itself, quoting what it refused; they are masked too."""
    url = f"https://bot:{TOKEN}@git.example.com/o/r.git"
    argv = [a.replace("{url}", url) for a in command]
    if argv[0] == "kubectl":
        result = run_gt(argv[2:], tmp_path)
    else:
        result = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            env={**os.environ, "COLUMNS": "300"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2, (attempt, result.stderr)
    assert TOKEN not in result.stdout + result.stderr, attempt
    assert "https://bot:***@git.example.com/o/r.git" in result.stderr, attempt
    assert "Traceback" not in result.stderr


def test_every_error_rendered_masks_url_passwords(capsys: pytest.CaptureFixture[str]) -> None:
    """A message from elsewhere (here a Failure quoting the API server) goes through the same
    renderer as the checks' own."""
    with pytest.raises(typer.Exit) as ended, errors_end_cleanly():
        raise Failure(
            f'Rig.gastown.gastown.io "x" is invalid: spec.gitURL: Invalid value: '
            f'"https://bot:{TOKEN}@git.example.com/o/r.git"'
        )
    assert ended.value.exit_code == 1
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert '"https://bot:***@git.example.com/o/r.git"' in err


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("https://u:p@h/x and http://a:b@c", "https://u:***@h/x and http://a:***@c"),
        ("'https://tok@h/x'", "'https://***@h/x'"),
        ("git@github.com:org/repo.git ssh://git@h/r", "git@github.com:org/repo.git ssh://git@h/r"),
        ("https://h/x?next=a@b", "https://h/x?next=a@b"),
        ("HTTPS://T0K@h/x", "HTTPS://***@h/x"),
        ("no url here: user:pass@host", "no url here: user:pass@host"),
        # The userinfo runs to the last `@` before the host: a password holding `@` or `:`.
        ("https://user:p@ss@host/x", "https://user:***@host/x"),
        ("https://u:a:b@host/x", "https://u:***@host/x"),
        ("https://u:p'q\"r@host/x", "https://u:***@host/x"),
    ],
)
def test_mask_url_passwords(text: str, masked: str) -> None:
    assert mask_url_passwords(text) == masked
