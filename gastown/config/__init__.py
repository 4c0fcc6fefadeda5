"""One place that resolves where Temporal and Kubernetes are, for the CLI and the operator."""

from gastown.config.errors import ConfigError
from gastown.config.kube import KubeSettings, resolve_kube
from gastown.config.temporal import TemporalSettings, resolve_temporal

__all__ = [
    "ConfigError",
    "KubeSettings",
    "TemporalSettings",
    "resolve_kube",
    "resolve_temporal",
]
