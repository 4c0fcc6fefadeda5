"""Configuration errors carry the next step for the user, not a stack trace."""

from __future__ import annotations


class ConfigError(Exception):
    """Something the user must set or fix before gt can talk to a cluster or to Temporal."""
