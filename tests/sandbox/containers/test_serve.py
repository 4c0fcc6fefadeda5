"""`python -m gastown.sandbox serve --containers` as `kubectl gt dev up --containers` runs it:
its pods are podman containers, and stopping the server leaves none of them behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gastown.sandbox import podman as argv
from tests.conftest import KUBECTL
from tests.sandbox.containers.conftest import POLECAT_IMAGE
from tests.sandbox.containers.test_pods import pod, py
from tests.sandbox.waits import wait_until

GT = str(Path(sys.executable).with_name("kubectl-gt"))


def labelled(state: Path) -> list[str]:
    out = subprocess.run(
        [
            *argv.base("podman"),
            "ps",
            "--all",
            "--quiet",
            f"--filter=label={argv.LABEL_STATE}={state.resolve()}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return out.split()


@pytest.mark.containers
def test_serve_containers_runs_pods_in_podman_and_stopping_removes_them(
    tmp_path: Path, polecat_image: str
) -> None:
    state = tmp_path / "sandbox"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gastown.sandbox",
            "serve",
            "--state-dir",
            str(state),
            "--containers",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: (state / "ready.json").exists(), 60, "sandbox ready")
        kubeconfig = json.loads((state / "ready.json").read_text())["kubeconfig"]
        env = {**os.environ, "KUBECONFIG": kubeconfig}

        def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [KUBECTL, *args],
                input=stdin,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        body = pod("sleeper", py("c", "print('up', flush=True); import time; time.sleep(600)"))
        applied = kubectl("apply", "-n", "default", "-f", "-", stdin=json.dumps(body))
        assert applied.returncode == 0, applied.stderr
        wait_until(
            lambda: kubectl("logs", "sleeper", "-c", "c").stdout == "up\n", 60, "container up"
        )
        status = json.loads(kubectl("get", "pod", "sleeper", "-o", "json").stdout)["status"]
        assert status["containerStatuses"][0]["containerID"].startswith("podman://")
        assert status["containerStatuses"][0]["image"] == POLECAT_IMAGE
        assert len(labelled(state)) == 1
    finally:
        server.send_signal(signal.SIGTERM)
        # podman shares one storage lock with every build on the machine: be patient.
        _, err = server.communicate(timeout=180)
    assert server.returncode == 0, err.decode()
    assert labelled(state) == []  # the running pod's container went with the sandbox


def test_dev_up_containers_is_a_sandbox_mode(tmp_path: Path) -> None:
    result = subprocess.run(
        [GT, "dev", "up", "--state-dir", str(tmp_path), "--cluster", "current", "--containers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--containers" in result.stderr
    assert not list(tmp_path.glob("*.pid"))
