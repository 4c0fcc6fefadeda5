"""The worker's Temporal TLS flags against a real TLS handshake: the dev server serves only
plaintext, so tlsproxy.py puts TLS (mutual, when asked) in front of it with certificates the
real openssl made. What is not tested here: a real Temporal server's own TLS and Temporal
Cloud's API-key check (the dev server ignores an API key)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cluster, TemporalDev
from tests.service.processes import answer_with, free_port, operator, wait_for
from tests.service.tlsproxy import Certificates, TLSProxy, make_certificates


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def mtls(certs: Certificates, temporal: TemporalDev) -> Iterator[TLSProxy]:
    proxy = TLSProxy(certs, int(temporal.address.rsplit(":", 1)[1]), require_client_cert=True)
    yield proxy
    proxy.close()


def _env(cluster: Cluster, port: int) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig), "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}


def test_the_worker_connects_with_mutual_tls(
    certs: Certificates, mtls: TLSProxy, cluster: Cluster, tmp_path: Path
) -> None:
    health = free_port()
    log = tmp_path / "worker.log"
    args = [
        "--health-port", str(health),
        "--temporal-tls-ca", str(certs.ca),
        "--temporal-tls-cert", str(certs.client_cert),
        "--temporal-tls-key", str(certs.client_key),
        "--task-queue", "service-tls",
    ]  # fmt: skip
    with operator("worker", args, _env(cluster, mtls.port), log) as proc:
        wait_for("ready over mTLS", answer_with(health, "/readyz", 200), 60, proc, log)
    assert proc.returncode == 0, log.read_text()
    assert mtls.handshakes >= 1
    assert "(namespace default, TLS, client certificate, own CA)" in log.read_text()


def test_without_the_client_certificate_the_server_refuses(
    certs: Certificates, mtls: TLSProxy, cluster: Cluster, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    env = {**_env(cluster, mtls.port), "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(certs.ca)}
    with operator("worker", [], env, log) as proc:
        wait_for("the worker's end", lambda: proc.poll() is not None, 60)
    text = log.read_text()
    assert proc.returncode == 1, text
    assert "Traceback" not in text
    assert f"error: cannot connect to Temporal at 127.0.0.1:{mtls.port}" in text
    assert "TLS is on: check that the server serves TLS" in text


def test_tls_to_a_plaintext_server_fails_with_the_tls_hint(
    certs: Certificates, temporal: TemporalDev, cluster: Cluster, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    port = int(temporal.address.rsplit(":", 1)[1])
    with operator("worker", ["--temporal-tls-ca", str(certs.ca)], _env(cluster, port), log) as p:
        wait_for("the worker's end", lambda: p.poll() is not None, 60)
    text = log.read_text()
    assert p.returncode == 1, text
    assert "(namespace default, TLS, own CA)" in text
    assert "TLS is on: check that the server serves TLS" in text
