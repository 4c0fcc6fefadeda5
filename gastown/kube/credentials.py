"""Who we are to the API server, read without the official client: the in-cluster service
account, or a kubeconfig whose user is a bearer token, a client certificate or a username and
password.

The watcher talks to the API through `direct.Direct` with these credentials, so that its
process never imports the official client (its ~1,000 model classes cost about 10 MB of RSS;
docs/benchmarks.md, Watcher). Anything this reader does not handle — exec plugins, auth
providers, proxies — raises `Unsupported`, and the caller uses the official client instead,
which handles them all.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gastown.config.errors import ConfigError
from gastown.config.kube import KubeSettings

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# How long a token read from a file is used before the file is read again: kubelet rotates
# projected service account tokens in place (the official client re-reads them as often).
TOKEN_FILE_SECONDS = 60.0


class Unsupported(Exception):
    """These credentials need the official client (exec plugin, auth provider, proxy)."""


@dataclass(frozen=True)
class Credentials:
    """How a client reaches the cluster, for a second client (kopf) to use the same."""

    server: str
    ca_path: str | None
    insecure: bool
    scheme: str | None
    token: str | None
    certificate_path: str | None
    private_key_path: str | None
    username: str | None
    password: str | None


@dataclass
class Source:
    """Credentials as read, and where a rotating token comes from."""

    credentials: Credentials
    token_file: str | None = None
    _read_at: float = 0.0

    def current(self) -> Credentials:
        """The credentials with the token file's newest token (re-read once a minute)."""
        if self.token_file is None:
            return self.credentials
        now = time.monotonic()
        if now - self._read_at >= TOKEN_FILE_SECONDS or self.credentials.token is None:
            token = Path(self.token_file).read_text().strip()
            self.credentials = dataclasses.replace(self.credentials, token=token)
            self._read_at = now
        return self.credentials


def load(settings: KubeSettings) -> Source:
    """The settings' credentials; ConfigError when they cannot be read, Unsupported when only
    the official client can use them."""
    if settings.in_cluster:
        return _in_cluster()
    if settings.kubeconfig is None:
        raise ConfigError("no kubeconfig: set KUBECONFIG or create ~/.kube/config")
    return _from_kubeconfig(Path(settings.kubeconfig), settings.context)


def _in_cluster() -> Source:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    token = SERVICE_ACCOUNT / "token"
    if not host or not port or not token.exists():
        raise ConfigError(
            "not in a cluster: KUBERNETES_SERVICE_HOST/PORT or the service account token "
            "is missing; pass --kubeconfig"
        )
    host = f"[{host}]" if ":" in host else host
    ca = SERVICE_ACCOUNT / "ca.crt"
    creds = Credentials(
        server=f"https://{host}:{port}",
        ca_path=str(ca) if ca.exists() else None,
        insecure=False,
        scheme="Bearer",
        token=None,
        certificate_path=None,
        private_key_path=None,
        username=None,
        password=None,
    )
    return Source(creds, token_file=str(token))


def _named(doc: dict[str, Any], section: str, name: Any) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if entry.get("name") == name:
            return dict(entry.get(section[:-1]) or {})
    raise ConfigError(f"kubeconfig has no {section[:-1]} named {name!r}")


def _from_kubeconfig(path: Path, context: str | None) -> Source:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    ctx = _named(doc, "contexts", context or doc.get("current-context"))
    cluster = _named(doc, "clusters", ctx.get("cluster"))
    user = _named(doc, "users", ctx.get("user"))
    if set(user) - {
        "token",
        "tokenFile",
        "client-certificate",
        "client-certificate-data",
        "client-key",
        "client-key-data",
        "username",
        "password",
    }:
        raise Unsupported(f"user fields {sorted(user)}")
    if set(cluster) - {"server", "certificate-authority", "certificate-authority-data",
                       "insecure-skip-tls-verify", "extensions"}:  # fmt: skip
        raise Unsupported(f"cluster fields {sorted(cluster)}")
    base = path.parent
    token = user.get("token")
    token_file = _path(base, user.get("tokenFile")) if not token else None
    creds = Credentials(
        server=str(cluster["server"]).rstrip("/"),
        ca_path=_file(base, cluster, "certificate-authority"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        scheme="Bearer" if token or token_file else None,
        token=str(token) if token else None,
        certificate_path=_file(base, user, "client-certificate"),
        private_key_path=_file(base, user, "client-key"),
        username=user.get("username"),
        password=user.get("password"),
    )
    return Source(creds, token_file=token_file)


def _path(base: Path, value: Any) -> str | None:
    return str(base / Path(str(value)).expanduser()) if value else None


def _file(base: Path, section: dict[str, Any], key: str) -> str | None:
    """A file the TLS layer can open: the named one, or the inline `-data` written to a
    private temporary file (removed at exit), as the official client does."""
    if section.get(f"{key}-data"):
        return _temp(base64.b64decode(section[f"{key}-data"]))
    return _path(base, section.get(key))


_TEMP: list[str] = []


def _temp(data: bytes) -> str:
    if not _TEMP:
        _TEMP.append(tempfile.mkdtemp(prefix="gastown-kube-"))
        atexit.register(shutil.rmtree, _TEMP[0], True)
    fd, name = tempfile.mkstemp(dir=_TEMP[0])  # mode 0600
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return name
