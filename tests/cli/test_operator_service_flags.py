"""`gastown-operator worker|watcher`: the chart's flags refuse bad values before anything
connects (exit 2 naming the option, no traceback), and the API key never reaches the output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gastown.sandbox.temporal_dev import free_port
from tests.conftest import Cluster, TemporalDev

OPERATOR = str(Path(sys.executable).parent / "gastown-operator")
KEY = "tk-never-print-me-5678"


def run(
    command: str, args: list[str], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    return subprocess.run(
        [OPERATOR, command, *args],
        env={
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result.stderr


@pytest.mark.parametrize("command", ["worker", "watcher"])
@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--temporal-tls-ca", "/no/such/ca.pem"], {}, "--temporal-tls-ca"),
        ([], {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/no/such/ca.pem"}, "--temporal-tls-ca"),
        (["--temporal-api-key-file", "/no/such/key"], {}, "--temporal-api-key-file"),
        ([], {"TEMPORAL_API_KEY_FILE": "/no/such/key"}, "TEMPORAL_API_KEY_FILE"),
        (["--metrics-bind-address", "9090"], {}, "--metrics-bind-address"),
        ([], {"GASTOWN_METRICS_BIND_ADDRESS": "localhost:x"}, "--metrics-bind-address"),
        (["--health-port", "0"], {}, "--health-port"),
        ([], {"GASTOWN_HEALTH_PORT": "http"}, "--health-port"),
    ],
    ids=["ca", "ca-env", "key-file", "key-file-env", "metrics", "metrics-env", "port", "port-env"],
)
def test_bad_values_name_the_option(
    command: str, args: list[str], env: dict[str, str], named: str, tmp_path: Path
) -> None:
    assert named in usage_error(run(command, args, env, tmp_path))


@pytest.mark.parametrize("command", ["worker", "watcher"])
def test_a_key_without_its_certificate(command: str, tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    stderr = usage_error(run(command, ["--temporal-tls-key", str(key)], {}, tmp_path))
    assert "--temporal-tls-key (TEMPORAL_TLS_CLIENT_KEY_PATH) is set but --temporal-tls-cert" in (
        stderr
    )


@pytest.mark.parametrize("name", ["Polecat", "pods_sa", "-x"])
def test_a_bad_pod_service_account(name: str, tmp_path: Path) -> None:
    stderr = usage_error(run("worker", ["--pod-service-account", name], {}, tmp_path))
    assert "--pod-service-account (GASTOWN_POD_SERVICE_ACCOUNT)" in stderr


@pytest.mark.parametrize("command", ["worker", "watcher"])
@pytest.mark.parametrize("how", ["file", "value"])
def test_the_api_key_is_never_printed(command: str, how: str, tmp_path: Path) -> None:
    """Nothing listens at the address: the worker fails to connect (the watcher connects on
    first use, so it is stopped by SIGTERM's stand-in, a timeout) and says so, naming the
    address and that an API key was used, never the key."""
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY)
    env = {"TEMPORAL_API_KEY_FILE": str(key_file)} if how == "file" else {"TEMPORAL_API_KEY": KEY}
    if command == "worker":
        result = run(command, ["--log-level", "DEBUG"], env, tmp_path)
        assert result.returncode == 1, result.stderr
        assert "error: cannot connect to Temporal at 127.0.0.1:" in result.stderr
        assert "(namespace default, TLS, API key)" in result.stderr
        output = result.stdout + result.stderr
    else:
        proc = subprocess.Popen(
            [OPERATOR, command, "--log-level", "DEBUG", "--no-leader-election"],
            env={**os.environ, "KUBECONFIG": "/nonexistent", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, output  # no cluster: after Temporal's settings resolved
    assert KEY not in output


@pytest.mark.parametrize("command", ["worker", "watcher"])
def test_a_metrics_port_in_use_is_one_line_and_exit_1(command: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = run(command, ["--metrics-bind-address", address], {}, tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert f"error: cannot serve metrics on {address}" in result.stderr


@pytest.mark.parametrize("command", ["worker", "watcher"])
def test_a_health_port_in_use_is_one_line_and_exit_1(
    command: str, cluster: Cluster, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104 - as the health server binds
        taken.listen()
        port = taken.getsockname()[1]
        env = {"KUBECONFIG": str(cluster.kubeconfig)}
        result = run(command, ["--health-port", str(port)], env, tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert f"error: cannot serve /healthz and /readyz on port {port}" in result.stderr


def test_a_fatal_error_at_start_is_one_line_and_exit_1(
    cluster: Cluster, temporal: TemporalDev, tmp_path: Path
) -> None:
    """A Temporal namespace that does not exist stops the worker: one line, not a stack."""
    result = run(
        "worker",
        ["--temporal-namespace", "no-such-namespace", "--register-search-attributes"],
        {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": temporal.address},
        tmp_path,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "no-such-namespace" in last, result.stderr
