"""Configuration errors carry the next step for the user, not a stack trace."""

from __future__ import annotations


class ConfigError(Exception):
    """Something the user must set or fix before gt can talk to a cluster or to Temporal."""


class CodecConfigError(ConfigError):
    """The payload codec's key file cannot be used: a usage error wherever it is named."""
