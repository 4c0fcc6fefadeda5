"""One active watcher among replicas: a coordination.k8s.io/v1 Lease, as client-go does it.

A candidate takes the Lease when it is free or has not been renewed for `leaseDurationSeconds`
*as observed by the candidate's own clock* (it remembers when it last saw the record change,
so clock skew between replicas cannot make a live leader look expired). Every write carries
the resourceVersion, so two candidates racing for a free Lease cannot both win: the loser gets
a 409. The leader renews every `renew_seconds`; if it cannot renew before its own lease would
run out it stops acting at once (the caller stops kopf and exits), so at most one replica acts
at any time. On a clean shutdown the leader releases the Lease, and the next replica takes it
immediately instead of after the lease duration.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gastown.kube import Conflict, Kube, NotFound, Unavailable, leases
from gastown.kube.calls import JSON, Op, bounded

T = TypeVar("T")

log = logging.getLogger("gastown.watcher.leader")


@dataclass
class LeaderElection:
    kube: Kube
    namespace: str
    name: str
    identity: str
    lease_seconds: float = 15.0
    renew_seconds: float = 5.0
    retry_seconds: float = 2.0
    # What we last saw of the Lease, and when (monotonic) we saw it change.
    _seen: tuple[str | None, str | None] = (None, None)
    _seen_at: float = field(default=0.0)
    _renewed_at: float = field(default=0.0)
    transitions: int = 0
    # When (monotonic) the API server last answered a read of the Lease: a follower that
    # cannot reach it is no standby (its readiness says so).
    read_at: float | None = None

    def _call_seconds(self) -> float:
        """Each Lease call's own limit: a renew that hangs on the network must fail well
        before the lease could run out, so the loop below can still step down in time."""
        return max(1.0, min(self.renew_seconds, self.lease_seconds / 3))

    async def _run(self, op: Op[T]) -> T:
        return await self.kube.run(bounded(op, self._call_seconds()))

    async def _read(self) -> JSON | None:
        lease = await self._run(leases.read(self.namespace, self.name))
        self.read_at = time.monotonic()
        return lease

    def in_touch(self) -> bool:
        """True while the last answered read is at most one lease duration old."""
        return self.read_at is not None and time.monotonic() - self.read_at <= self.lease_seconds

    def _spec(self, transitions: int, acquired: str | None = None) -> dict[str, Any]:
        return leases.spec(self.identity, self.lease_seconds, transitions, acquired)

    async def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease; True when we hold it afterwards."""
        lease = await self._read()
        if lease is None:
            sent = time.monotonic()
            try:
                await self._run(leases.take(self.namespace, self.name, self._spec(0)))
            except Conflict:
                return False
            self._renewed_at = sent
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"))
        now = time.monotonic()
        if record != self._seen:
            self._seen, self._seen_at = record, now
        duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
        mine = holder == self.identity
        free = not holder or now - self._seen_at > duration
        if not (mine or free):
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        new = self._spec(transitions, spec.get("acquireTime") if mine else None)
        # The lease runs from when the write was sent, not from its answer: a slow answer
        # must not stretch the time this replica believes it may go on acting.
        sent = time.monotonic()
        try:
            await self._run(leases.write(lease, new))
        except (Conflict, NotFound):
            return False
        if not mine:
            self.transitions += 1
            log.info("took the lease %s/%s (was %s)", self.namespace, self.name, holder or "free")
        self._renewed_at = sent
        return True

    async def acquire(self) -> None:
        """Wait until we are the leader."""
        while True:
            try:
                if await self.try_acquire():
                    return
            except Unavailable as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            await asyncio.sleep(self.retry_seconds)

    async def hold(self) -> None:
        """Renew until renewal fails for longer than the lease; returns when leadership is
        lost (the caller must stop acting at once).

        Every attempt is bounded by the point where it would be unsafe to go on acting (a
        margin before the lease could look expired to another replica), so a renewal that
        hangs on the network cannot keep this leader acting past its lease."""
        delay = self.renew_seconds
        margin = min(self.renew_seconds, self.lease_seconds / 4)
        while True:
            await asyncio.sleep(delay)
            safe_until = self._renewed_at + self.lease_seconds - margin
            try:
                renewed = await asyncio.wait_for(
                    self.try_acquire(), max(0.0, safe_until - time.monotonic())
                )
                if renewed:
                    delay = self.renew_seconds
                    continue
                log.error("lost the lease %s/%s to another replica", self.namespace, self.name)
                return
            except TimeoutError:
                log.warning("could not renew the lease: no answer in time")
            except Exception as exc:
                log.warning("could not renew the lease: %s", exc)
            left = safe_until - time.monotonic()
            if left <= 0:
                log.error("could not renew the lease in time; stepping down")
                return
            delay = min(self.retry_seconds, left / 2)  # try again while it is still safe

    async def release(self) -> None:
        """Hand the lease over now (clean shutdown); bounded, so a shutdown never hangs on it."""
        try:
            lease = await self._read()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            released = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
            await self._run(leases.write(lease, released))
        except Exception as exc:
            log.warning("could not release the lease: %s", exc)
