"""ServiceAccount identities for authorisation tests: real tokens, real kubeconfigs.

Tokens come from the real `kubectl create token` (TokenRequest) and kubeconfigs are the
admin's cluster entry with that token as the user, so these helpers work against a real cluster
(GASTOWN_TEST_KUBECONFIG) as well as the sandbox.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster

Identity = Callable[[str, str], Cluster]


def kubeconfig_for(admin: Path, token: str, path: Path) -> Path:
    """The admin kubeconfig's current cluster, with `token` as the only user."""
    config = yaml.safe_load(admin.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": cluster["name"], "user": "sa"}}],
                "current-context": "sa",
            }
        )
    )
    path.chmod(0o600)
    return path


def create_token(cluster: Cluster, namespace: str, name: str) -> str:
    result = cluster.kubectl("create", "token", name, "-n", namespace)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def service_account(cluster: Cluster) -> Iterator[Identity]:
    """`service_account(ns, name)`: create the SA (if missing) and a Cluster acting as it."""
    with tempfile.TemporaryDirectory(prefix="gastown-sa-") as tmp:

        def make(namespace: str, name: str) -> Cluster:
            created = cluster.kubectl("create", "serviceaccount", name, "-n", namespace)
            assert created.returncode == 0 or "AlreadyExists" in created.stderr, created.stderr
            token = create_token(cluster, namespace, name)
            path = kubeconfig_for(cluster.kubeconfig, token, Path(tmp) / f"{namespace}-{name}")
            return Cluster(path, cluster.sandbox)

        yield make


def forbidden(result: subprocess.CompletedProcess[str]) -> str:
    """The apiserver's message from kubectl's `Error from server (Forbidden): ...` line."""
    assert result.returncode != 0, result.stdout
    for line in result.stderr.splitlines():
        if "(Forbidden)" in line:
            return line.split("(Forbidden): ", 1)[1]
        if line.startswith("error: failed to create") and " is forbidden: " in line:
            return line.split(": ", 2)[2]
    raise AssertionError(f"no Forbidden error in: {result.stderr}")
