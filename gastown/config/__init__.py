"""One place that resolves where Temporal and Kubernetes are, for the CLI and the operator."""

from gastown.config.errors import ConfigError
from gastown.config.kube import KubeSettings, api_client, resolve_kube
from gastown.config.temporal import TemporalSettings, resolve_temporal

__all__ = [
    "ConfigError",
    "KubeSettings",
    "TemporalSettings",
    "api_client",
    "resolve_kube",
    "resolve_temporal",
]
