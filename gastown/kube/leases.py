"""coordination.k8s.io/v1 Leases: read, take (create) and renew or hand over (replace).

Every write of an existing Lease is a replace carrying the resourceVersion it was read at, so
two candidates racing for one Lease cannot both win: the loser gets Conflict. The election
policy (who may take a Lease when) is the caller's: gastown.operator.leader.
"""

from __future__ import annotations

from gastown.kube import timestamps
from gastown.kube.calls import JSON, Op
from gastown.kube.reading import get_or_none
from gastown.kube.resources import LEASES
from gastown.kube.writing import create, replace


def spec(
    holder: str | None,
    duration_seconds: float,
    transitions: int,
    acquired: str | None = None,
) -> JSON:
    """A Lease spec renewed now (acquired now too, unless `acquired` carries it over)."""
    now = timestamps.now_micro()
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": max(1, round(duration_seconds)),
        "acquireTime": acquired or now,
        "renewTime": now,
        "leaseTransitions": transitions,
    }


def read(namespace: str, name: str) -> Op[JSON | None]:
    return get_or_none(LEASES, name, namespace)


def take(namespace: str, name: str, lease_spec: JSON) -> Op[JSON]:
    """Create the Lease; Conflict if another candidate created it first."""
    body = {
        "apiVersion": LEASES.api_version,
        "kind": LEASES.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": lease_spec,
    }
    return create(LEASES, body, namespace)


def write(lease: JSON, lease_spec: JSON) -> Op[JSON]:
    """Replace the Lease as read with a new spec; Conflict if it changed since."""
    return replace(LEASES, {**lease, "spec": lease_spec}, lease["metadata"]["namespace"])
