"""`gastown-operator worker` refuses bad credentials settings before it connects anywhere:
exit 2 naming the setting, no traceback (KUBECONFIG and Temporal point nowhere, so getting
past the check would fail differently)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gastown.activities import oauth


def worker(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gastown-operator"), "worker", *args],
        env={
            **os.environ,
            **env,
            "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
            "TEMPORAL_ADDRESS": "127.0.0.1:1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--oauth-token-url", "http://example.org/v1/oauth/token?k=hush"], {}),
        ([], {oauth.ENV_TOKEN_URL: "http://example.org/v1/oauth/token?k=hush"}),
        (["--oauth-client-id", " "], {}),
    ],
    ids=["flag", "env", "empty-client-id"],
)
def test_a_bad_token_endpoint(args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    """Nothing of the URL's path is shown (it may carry a secret)."""
    result = worker(args, env, tmp_path)
    assert "error: the OAuth" in result.stderr
    assert "GASTOWN_OAUTH_" in result.stderr
    assert "hush" not in result.stderr and "/v1/oauth" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--credentials-wait", "0"], {}), ([], {"GASTOWN_CREDENTIALS_WAIT_SECONDS": "soon"})],
    ids=["flag", "env"],
)
def test_a_bad_credentials_wait(args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    assert "--credentials-wait" in worker(args, env, tmp_path).stderr
