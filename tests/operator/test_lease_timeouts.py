"""A leader whose Lease renewal hangs steps down before its lease could run out.

The API server here answers Lease updates only after a minute (a latency fault in the
sandbox: the request is accepted and then nothing comes back, like a half-open connection).
Before each Lease call had its own time limit, `hold()` waited on that call for the whole
minute while another replica could already take the lease: two leaders. The client is the
watcher's own (lean transport, the watcher's Lease retry policy).
"""

from __future__ import annotations

import asyncio
import time

from gastown.kube import from_kubeconfig
from gastown.operator.leader import LeaderElection
from gastown.sandbox.cluster import Sandbox
from gastown.service.watcher import LEASE_RETRY
from tests.conftest import Cluster

LEASE_SECONDS = 6.0
RENEW_SECONDS = 1.0


async def test_a_hung_renewal_steps_down_before_the_lease_expires(
    cluster: Cluster, sandbox: Sandbox, namespace: str
) -> None:
    kube = from_kubeconfig(str(cluster.kubeconfig), LEASE_RETRY, lean=True)
    leader = LeaderElection(
        kube, namespace, "hung", "replica-a",
        lease_seconds=LEASE_SECONDS, renew_seconds=RENEW_SECONDS, retry_seconds=0.2,
    )  # fmt: skip
    await asyncio.wait_for(leader.acquire(), 30)
    sandbox.faults.fail("update", "leases", code=None, latency=60.0, namespace=namespace)
    try:
        holding = asyncio.ensure_future(leader.hold())
        # Not a speed target: the property under test is "steps down before expiry", and a
        # hang would otherwise last the fault's whole minute.
        done, _ = await asyncio.wait({holding}, timeout=LEASE_SECONDS * 3)
        stepped_down_at = time.monotonic()
        assert done, "hold() still waiting on a renewal the API server never answers"
        # It stopped acting while its last successful renewal was still within the lease:
        # no other replica could have taken it yet.
        assert stepped_down_at - leader._renewed_at < LEASE_SECONDS
    finally:
        sandbox.faults.clear()
