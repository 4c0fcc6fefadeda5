"""`kubectl gt` through the real kubectl binary's plugin mechanism."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gastown import __version__

KUBECTL = "/usr/bin/kubectl"
BIN = Path(sys.executable).parent


def _kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_kubectl_discovers_the_plugin() -> None:
    result = _kubectl("plugin", "list")
    assert str(BIN / "kubectl-gt") in result.stdout


def test_help_through_kubectl() -> None:
    result = _kubectl("gt", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: kubectl gt" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_version_through_kubectl() -> None:
    result = _kubectl("gt", "version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"kubectl-gt {__version__}"


@pytest.mark.parametrize("args", [["no-such-command"], ["version", "--bogus"]])
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    result = _kubectl("gt", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr


def test_operator_entry_point() -> None:
    result = subprocess.run(
        [str(BIN / "gastown-operator"), "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"gastown-operator {__version__}"
