"""`kubectl gt dev up|status|down` as a user runs it: real daemons, real ports, real kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gastown.sandbox.temporal_dev import free_port, temporal_binary
from tests.conftest import KUBECTL

GT = str(Path(sys.executable).with_name("kubectl-gt"))


def gt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GT, *args], capture_output=True, text=True, timeout=120, check=False)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_dev_up_status_down(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    tport, uport = free_port(), free_port()
    flags = ["--state-dir", str(state)]
    up = gt("dev", "up", *flags, "--temporal-port", str(tport), "--ui-port", str(uport))
    try:
        assert up.returncode == 0, up.stderr
        kubeconfig = state / "sandbox" / "kubeconfig"
        assert f"export KUBECONFIG={kubeconfig}" in up.stdout
        assert f"temporal ui: http://127.0.0.1:{uport}" in up.stdout
        assert (kubeconfig.stat().st_mode & 0o777) == 0o600  # it holds the token
        status = gt("dev", "status", *flags)
        assert status.returncode == 0, status.stdout
        assert "sandbox: running" in status.stdout
        assert "temporal: running" in status.stdout
        assert "worker: running" in status.stdout
        assert "watcher: running" in status.stdout
        crds = subprocess.run(
            [KUBECTL, "get", "crd", "-o", "name"],
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            timeout=60,
            check=True,
        ).stdout
        assert "customresourcedefinition.apiextensions.k8s.io/polecats.gastown.gastown.io" in crds
        attrs = subprocess.run(
            [
                temporal_binary(),
                "operator",
                "search-attribute",
                "list",
                "--address",
                f"127.0.0.1:{tport}",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        custom = json.loads(attrs).get("customAttributes", {})
        for name in (
            "GastownRig",
            "GastownBead",
            "GastownPolecat",
            "GastownConvoy",
            "GastownPhase",
        ):
            assert custom.get(name) in ("INDEXED_VALUE_TYPE_KEYWORD", "Keyword"), custom
        pids = [int(p.read_text()) for p in state.glob("*.pid")]
        assert sorted(p.stem for p in state.glob("*.pid")) == [
            "sandbox",
            "temporal",
            "watcher",
            "worker",
        ]
        assert len(pids) == 4
        assert (state / "temporal.db").exists()
        assert (state / "logs" / "sandbox.log").exists()
        temporal = [temporal_binary(), "workflow"]
        address = ["--address", f"127.0.0.1:{tport}"]
        subprocess.run(
            [
                *temporal,
                "start",
                *address,
                "--type",
                "Probe",
                "--task-queue",
                "none",
                "--workflow-id",
                "survives-restart",
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
    finally:
        down = gt("dev", "down", *flags)
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(pid) for pid in pids)
    assert gt("dev", "status", *flags).returncode == 1
    again = gt("dev", "up", *flags, "--temporal-port", str(tport), "--ui-port", str(uport))
    try:
        assert again.returncode == 0, again.stderr
        described = subprocess.run(
            [*temporal, "describe", *address, "--workflow-id", "survives-restart"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert described.returncode == 0, described.stderr  # the SQLite file kept it
    finally:
        assert gt("dev", "down", *flags).returncode == 0


def test_dev_up_with_current_cluster_starts_only_temporal(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: elsewhere, context: {cluster: c, user: u}}]\n"
    )
    state = tmp_path / "dev"
    flags = ["--state-dir", str(state)]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    up = subprocess.run(
        [
            GT,
            "dev",
            "up",
            *flags,
            "--cluster",
            "current",
            "--temporal-port",
            str(free_port()),
            "--ui-port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert "cluster: current kube context (elsewhere)" in up.stdout
        assert "KUBECONFIG" not in up.stdout
        # No sandbox: Temporal, and the worker against the current context.
        assert sorted(p.name for p in state.glob("*.pid")) == [
            "temporal.pid",
            "watcher.pid",
            "worker.pid",
        ]
    finally:
        assert gt("dev", "down", *flags).returncode == 0
