"""Which transport `connect(lean=True)` picks, and that the watcher never loads the official
client (its import is most of what lean saves: docs/benchmarks.md, Watcher)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from gastown.kube import NO_RETRY, from_kubeconfig, reading
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
