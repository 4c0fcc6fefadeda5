"""The one Kubernetes boundary: the only package that imports the Kubernetes client.

    kube = connect(settings, BACKOFF)              # or NO_RETRY (activities), FAIL_FAST (CLI)
    polecat = await kube.run(reading.get(POLECATS, name, namespace))
    kube.run_sync(writing.create(RIGS, body))      # the same operation, synchronously

Operations are sans-I/O generators (calls.py) in modules named for what they do: reading,
writing, patching, events, conditions, finalizers, leases, watching; `status` builds patch
bodies from the gastown.api models; `timestamps` is the one RFC 3339 helper. Errors are one
hierarchy (errors.py) carrying the API server's message.

Only `client` (and `errors.translate`, when called) import the official client, and this
module loads `client` on first use of one of its names: pure helpers (timestamps, conditions,
events, resources) cost no import of the Kubernetes client, which takes longer than a whole
CLI command's API calls.
"""

from typing import TYPE_CHECKING, Any

from gastown.kube.calls import JSON, Op, Request
from gastown.kube.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    Unauthorized,
    Unavailable,
)
from gastown.kube.resources import (
    CONFIGMAPS,
    CONVOYS,
    EVENTS,
    LEASES,
    NAMESPACES,
    PODS,
    POLECATS,
    RIGS,
    SECRETS,
    Resource,
)
from gastown.kube.retry import BACKOFF, FAIL_FAST, NO_RETRY, Backoff, RetryPolicy

if TYPE_CHECKING:
    from gastown.kube.client import Credentials, Kube, api_client, connect, from_kubeconfig

_FROM_CLIENT = frozenset({"Credentials", "Kube", "api_client", "connect", "from_kubeconfig"})


def __getattr__(name: str) -> Any:
    if name in _FROM_CLIENT:
        from gastown.kube import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKOFF",
    "CONFIGMAPS",
    "CONVOYS",
    "EVENTS",
    "FAIL_FAST",
    "JSON",
    "LEASES",
    "NAMESPACES",
    "NO_RETRY",
    "PODS",
    "POLECATS",
    "RIGS",
    "SECRETS",
    "Backoff",
    "BadRequest",
    "Conflict",
    "Credentials",
    "Forbidden",
    "Gone",
    "Invalid",
    "Kube",
    "KubeError",
    "NotFound",
    "Op",
    "Request",
    "Resource",
    "RetryPolicy",
    "Unauthorized",
    "Unavailable",
    "api_client",
    "connect",
    "from_kubeconfig",
]
