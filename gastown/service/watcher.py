"""The watcher process: connect, win the Lease, watch and act; step down the moment the Lease
is lost.

Temporal is connected lazily: a watcher started while Temporal is down comes up, watches, and
its adoptions wait in the work queue (retried with backoff) until Temporal answers. Losing the
Lease stops kopf and returns exit code 1: a replica that stopped being sure it leads must not
act on another event, and a fresh process is the simplest clean state to wait in as follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from typing import Any

from gastown.config import KubeSettings, TemporalSettings
from gastown.kube import BACKOFF, RetryPolicy, connect
from gastown.operator.app import Watcher, WatcherOptions
from gastown.operator.leader import LeaderElection
from gastown.operator.memory import trim_forever
from gastown.service.connection import ServiceOptions, health_endpoints
from gastown.service.connection import connect as connect_temporal
from gastown.service.telemetry import count_api_errors, meter

log = logging.getLogger("gastown.watcher")

LEASE_NAME = "gastown-watcher"
# Few, quick retries: a lease call stuck in backoff must not outlive the lease.
LEASE_RETRY = RetryPolicy(attempts=2)


@dataclass(frozen=True)
class ElectionOptions:
    enabled: bool = True
    namespace: str | None = None  # default: the kube settings' namespace
    name: str = LEASE_NAME
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    lease_seconds: float = 15.0
    renew_seconds: float = 5.0
    retry_seconds: float = 2.0


@dataclass
class WatcherReadiness:
    """What /readyz says of the watcher.

    A replica waiting for the Lease is ready while the API server answers its Lease reads: it
    is the hot standby, and a rollout may go on. One that has not read the Lease for a whole
    lease duration (no route to the API server, say a NetworkPolicy that doesn't match) could
    not take over, so it is not ready.
    The leader is ready once kopf has started (its startup handlers ran, so the Rig index, the
    pod TTL timer and the credentials informer run, and its watches are open) and the
    credentials informer has listed once. The body says which role this replica has.
    """

    lease: str = ""
    role: str = "starting"
    kopf_started: asyncio.Event = field(default_factory=asyncio.Event)
    watcher: Watcher | None = None
    leader: LeaderElection | None = None

    async def __call__(self) -> tuple[bool, str]:
        if self.role == "follower":
            if self.leader is not None and not self.leader.in_touch():
                return False, f"follower: cannot read the lease {self.lease} from the API server"
            return True, f"follower: waiting for the lease {self.lease} (hot standby)"
        if self.role != "leader":
            return False, self.role
        what = f"leader of {self.lease}" if self.lease else "leader (no election)"
        if not self.kopf_started.is_set():
            return False, f"{what}: starting the informers"
        if self.watcher is not None and not all(i.listed for i in self.watcher.secret_informers):
            return False, f"{what}: listing credentials Secrets"
        return True, f"{what}: watching"


async def run_watcher(
    temporal_settings: TemporalSettings,
    kube_settings: KubeSettings,
    options: WatcherOptions | None = None,
    election: ElectionOptions | None = None,
    stop: asyncio.Event | None = None,
    service: ServiceOptions | None = None,
) -> int:
    """Run until `stop` (or SIGTERM/SIGINT); returns the process exit code."""
    election = election or ElectionOptions()
    service = service or ServiceOptions()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    runtime = service.runtime()  # the metrics exporter first: a taken port ends the start
    count_api_errors(runtime)  # gastown_kube_api_errors_total, for the process's life
    kube = connect(kube_settings, BACKOFF, lean=True)
    temporal = await connect_temporal(temporal_settings, runtime, lazy=True)
    log.info("Temporal at %s (connected on first use)", temporal_settings.describe())
    watcher = Watcher(
        kube,
        temporal,
        temporal_settings.task_queue,
        options or WatcherOptions(),
        meter=meter(runtime),
    )
    leader: LeaderElection | None = None
    if election.enabled:
        # Few, quick retries: a lease call stuck in backoff must not outlive the lease.
        leader = LeaderElection(
            kube.with_retry(LEASE_RETRY),
            election.namespace or kube_settings.namespace,
            election.name,
            election.identity,
            lease_seconds=election.lease_seconds,
            renew_seconds=election.renew_seconds,
            retry_seconds=election.retry_seconds,
        )
    readiness = WatcherReadiness(watcher=watcher)
    async with health_endpoints(service.health_port, readiness):
        return await serve(watcher, leader, stop, readiness)


async def serve(
    watcher: Watcher,
    leader: LeaderElection | None,
    stop: asyncio.Event,
    readiness: WatcherReadiness | None = None,
) -> int:
    """Lead (if electing), then watch and act until `stop` or the Lease is lost.

    kopf cancels, when it stops, every task created after it started; so this coroutine's own
    helper tasks are created before kopf's, and callers that share a loop with other work
    (tests) must give it a loop of its own.
    """
    loop = asyncio.get_running_loop()
    readiness = readiness or WatcherReadiness()
    readiness.watcher = watcher
    if leader is not None:
        readiness.lease = f"{leader.namespace}/{leader.name}"
        readiness.leader = leader
        readiness.role = "follower"
        log.info("waiting for the lease %s as %s", leader.name, leader.identity)
        acquired = asyncio.create_task(leader.acquire())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({acquired, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not acquired.done():
            acquired.cancel()
            return 0
        stopped.cancel()
        log.info("leading: watching polecats, pods, rigs and convoys")
    readiness.role = "leader"
    kopf_stop: asyncio.Future[None] = loop.create_future()
    waits: set[asyncio.Task[Any]] = {asyncio.create_task(stop.wait())}
    trimmer = asyncio.create_task(trim_forever())
    holding = asyncio.create_task(leader.hold()) if leader else None
    if holding is not None:
        waits.add(holding)
    operator = asyncio.create_task(
        watcher.run(stop_flag=kopf_stop, ready_flag=readiness.kopf_started)
    )
    waits.add(operator)
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    lost = holding is not None and holding in done
    readiness.role = "stopping"
    if lost:
        operator.cancel()  # no graceful drain: another replica may already be acting
        await watcher.step_down()
    elif not kopf_stop.done():
        kopf_stop.set_result(None)
    for task in pending:
        if task is not operator:
            task.cancel()
    try:
        await wait_stopped(operator, 30, "kopf")
    finally:
        trimmer.cancel()
        await watcher.close()
        if leader is not None and not lost:
            await leader.release()
    if lost:
        log.error("lost the lease: stopped acting; exiting so a fresh process can wait as follower")
        return 1
    return 0


async def wait_stopped(task: asyncio.Task[Any], grace: float, what: str) -> None:
    """Wait for a task we asked to stop (or cancelled), whatever way it ends.

    Its own end is logged, never raised: a cancelled task (the lease was lost), an error, or
    running past `grace` seconds must not keep the shutdown from finishing. A cancellation of
    the task waiting here (a caller stopping the watcher) is not ours to swallow: it
    propagates.
    """
    try:
        await asyncio.wait_for(task, grace)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        log.debug("%s stopped by cancellation", what)
    except TimeoutError:
        log.warning("%s did not stop within %ss; abandoning it", what, grace)
    except Exception:
        log.exception("%s stopped with an error", what)
