"""One place that resolves where Temporal and Kubernetes are, for the CLI and the operator."""

from gastown.config.errors import CodecConfigError, ConfigError
from gastown.config.kube import KubeSettings, resolve_kube
from gastown.config.temporal import TemporalSettings, codec_from_file, resolve_temporal

__all__ = [
    "CodecConfigError",
    "ConfigError",
    "KubeSettings",
    "TemporalSettings",
    "codec_from_file",
    "resolve_kube",
    "resolve_temporal",
]
