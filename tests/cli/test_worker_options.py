"""`gastown-operator worker`'s credentials wait: a usage error names it before anything
connects (KUBECONFIG and Temporal point nowhere, so getting past the check fails otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--credentials-wait", "0"], {}), ([], {"GASTOWN_CREDENTIALS_WAIT_SECONDS": "soon"})],
    ids=["flag", "env"],
)
def test_a_bad_credentials_wait_is_a_usage_error(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
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
    assert "--credentials-wait" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
