"""Kubeconfig for the sandbox: one cluster, one user with a bearer token, one context."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

CONTEXT = "gastown-sandbox"


def render(
    server: str, token: str | None, ca: Path | None = None, namespace: str = "default"
) -> str:
    user: dict[str, str] = {"token": token} if token else {}
    cluster: dict[str, str] = {"server": server}
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write(
    path: Path,
    server: str,
    token: str | None,
    ca: Path | None = None,
    namespace: str = "default",
) -> Path:
    """Write atomically with mode 0600: the file holds the token."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(render(server, token, ca, namespace))
    tmp.replace(path)
    return path
