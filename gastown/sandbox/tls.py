"""A self-signed serving certificate for the loopback API server.

kubectl (client-go) will not send a bearer token over plain HTTP, so token auth needs TLS.
The openssl binary makes the certificate (no Python crypto dependency); the kubeconfig carries
the certificate as its CA, so clients verify the server as they would a real cluster.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path


class TLSUnavailableError(RuntimeError):
    """No openssl binary: the sandbox falls back to plain HTTP without a token."""


def ensure_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(cert, key) under `directory`, created once and reused across restarts."""
    cert, key = directory / "tls.crt", directory / "tls.key"
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TLSUnavailableError("openssl not found")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=gastown-sandbox",
            "-addext",
            f"subjectAltName=IP:{host},DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
