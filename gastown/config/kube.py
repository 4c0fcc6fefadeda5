"""Which cluster and namespace: kubeconfig (or in-cluster), as kubectl itself resolves them.

Resolution only (files and environment); the client for these settings is built by
gastown.kube.client, the one package that imports the Kubernetes client.

`-n` wins; otherwise the kubeconfig context's namespace; otherwise the service account's
namespace in a pod; otherwise "default" — the order kubectl users expect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from gastown.config.errors import ConfigError

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class KubeSettings:
    kubeconfig: str | None
    context: str | None
    namespace: str
    in_cluster: bool


def _kubeconfig_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit).expanduser()
    if env.get("KUBECONFIG"):
        # Like kubectl, a colon-separated list; the first existing file decides the context.
        for part in env["KUBECONFIG"].split(os.pathsep):
            if part and Path(part).expanduser().exists():
                return Path(part).expanduser()
        return Path(env["KUBECONFIG"].split(os.pathsep)[0]).expanduser()
    default = Path("~/.kube/config").expanduser()
    return default if default.exists() else None


def _context_namespace(path: Path, context: str | None) -> str | None:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    name = context or doc.get("current-context")
    for entry in doc.get("contexts") or []:
        if entry.get("name") == name:
            ns = (entry.get("context") or {}).get("namespace")
            return str(ns) if ns else None
    if context:
        raise ConfigError(
            f"context {context!r} is not in kubeconfig {path}; "
            "list contexts with `kubectl config get-contexts`"
        )
    return None


def current_context(env: Mapping[str, str] | None = None) -> str:
    """The kubeconfig's current context, as `kubectl config current-context` prints it."""
    path = _kubeconfig_path(None, os.environ if env is None else env)
    if path is None or not path.exists():
        raise ConfigError("no kubeconfig: set KUBECONFIG or create ~/.kube/config")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    name = doc.get("current-context")
    if not name:
        raise ConfigError(f"kubeconfig {path} has no current-context")
    return str(name)


def resolve_kube(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    env: Mapping[str, str] | None = None,
) -> KubeSettings:
    environ = os.environ if env is None else env
    path = _kubeconfig_path(kubeconfig, environ)
    if path is not None and path.exists():
        ns = namespace or _context_namespace(path, context) or "default"
        return KubeSettings(str(path), context, ns, in_cluster=False)
    if environ.get("KUBERNETES_SERVICE_HOST"):
        in_pod = namespace
        if in_pod is None and SERVICE_ACCOUNT_NAMESPACE.exists():
            in_pod = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        return KubeSettings(None, None, in_pod or "default", in_cluster=True)
    where = str(path) if path else "~/.kube/config"
    raise ConfigError(
        f"no cluster configured: kubeconfig {where} does not exist and this is not a pod; "
        "set KUBECONFIG or pass --kubeconfig (for a local sandbox: `kubectl gt dev up`)"
    )
