"""Where Temporal is: flags first, then TEMPORAL_* env and profiles (temporalio's envconfig).

Using the SDK's own envconfig means `temporal` CLI profiles (temporal.toml) and the variables
Temporal documents (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, …)
work unchanged for gt, the worker and the watcher alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from temporalio.envconfig import ClientConfigProfile

from gastown.config.errors import ConfigError

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "gastown"


@dataclass(frozen=True)
class TemporalSettings:
    address: str
    namespace: str
    task_queue: str = DEFAULT_TASK_QUEUE
    profile: str | None = None
    # Everything else envconfig resolved (TLS, API key, gRPC metadata). Kept out of repr so a
    # logged settings object never shows a key.
    connect_extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `temporalio.client.Client.connect`."""
        return {**self.connect_extra, "target_host": self.address, "namespace": self.namespace}


def resolve_temporal(
    *,
    address: str | None = None,
    namespace: str | None = None,
    task_queue: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
) -> TemporalSettings:
    # envconfig insists on a real dict (os.environ is a Mapping but not one).
    environ = dict(os.environ if env is None else env)
    profile_name = profile or environ.get("TEMPORAL_PROFILE")
    try:
        loaded = ClientConfigProfile.load(profile_name, override_env_vars=environ)
    except Exception as exc:  # the SDK raises plain RuntimeError/ValueError for bad files
        raise ConfigError(
            f"cannot read the Temporal client profile {profile_name or 'default'!r}: {exc}; "
            "fix the file named by TEMPORAL_CONFIG_FILE or pass --temporal-address"
        ) from exc
    connect = dict(loaded.to_client_connect_config())
    connect.pop("target_host", None)
    connect.pop("namespace", None)
    return TemporalSettings(
        address=address or loaded.address or DEFAULT_ADDRESS,
        namespace=namespace or loaded.namespace or DEFAULT_NAMESPACE,
        task_queue=task_queue or environ.get("GASTOWN_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
        profile=profile_name,
        connect_extra=connect,
    )
