"""Which transport `connect(lean=True)` picks, and that the watcher never loads the official
client (its import is most of what lean saves: docs/benchmarks.md, Watcher)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gastown.config import KubeSettings
from gastown.config.errors import ConfigError
from gastown.kube import NO_RETRY, credentials, from_kubeconfig, reading
from gastown.kube.direct import Direct
from gastown.kube.official import Official
from gastown.kube.resources import NAMESPACES
from tests.conftest import Cluster


def _with_user(cluster: Cluster, tmp_path: Path, user: dict[str, object]) -> str:
    doc = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    doc["users"][0]["user"] = user
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_lean_reads_a_token_kubeconfig_itself(cluster: Cluster) -> None:
    kube = from_kubeconfig(str(cluster.kubeconfig), NO_RETRY, lean=True)
    assert isinstance(kube.transport, Direct)
    assert kube.run_sync(reading.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
    creds = kube.credentials()
    official = from_kubeconfig(str(cluster.kubeconfig), NO_RETRY).credentials()
    assert (creds.server, creds.token, creds.scheme) == (
        official.server,
        official.token,
        official.scheme,
    )


def test_lean_reads_a_token_file_and_falls_back_for_exec_plugins(
    cluster: Cluster, tmp_path: Path
) -> None:
    token = yaml.safe_load(Path(cluster.kubeconfig).read_text())["users"][0]["user"]["token"]
    (tmp_path / "token").write_text(token + "\n")
    by_file = from_kubeconfig(_with_user(cluster, tmp_path, {"tokenFile": "token"}), lean=True)
    assert isinstance(by_file.transport, Direct)
    assert by_file.credentials().token == token
    assert by_file.run_sync(reading.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "true"}}
    assert isinstance(
        from_kubeconfig(_with_user(cluster, tmp_path, exec_user), lean=True).transport, Official
    )


def test_the_watcher_process_never_imports_the_official_client() -> None:
    code = (
        "import sys, gastown.cli.operator_main, gastown.service.watcher, gastown.operator.app\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_in_cluster_credentials_follow_the_rotated_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("first\n")
    (tmp_path / "ca.crt").write_text("not read here")
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    source = credentials.load(KubeSettings(None, None, "default", in_cluster=True))
    first = source.current()
    assert (first.server, first.token) == ("https://[fd00::1]:6443", "first")
    assert first.scheme == "Bearer"
    assert first.ca_path == str(tmp_path / "ca.crt")
    (tmp_path / "token").write_text("second\n")
    assert source.current().token == "first"  # read again once a minute, not per request
    monkeypatch.setattr(credentials, "TOKEN_FILE_SECONDS", 0.0)
    assert source.current().token == "second"


def test_in_cluster_without_a_service_account_says_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="--kubeconfig"):
        credentials.load(KubeSettings(None, None, "default", in_cluster=True))
