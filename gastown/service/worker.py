"""The Temporal worker: registers the workflows (PolecatWorkflow, RigSlotsWorkflow,
ConvoyWorkflow, CredentialsWorkflow: gastown.workflows.WORKFLOWS) and their activities and
runs until told to stop.

Graceful shutdown lets running activities finish or heartbeat-time-out; it never deletes a
pod. A polecat whose wait activity was interrupted resumes on the next worker from its last
heartbeat and adopts the same pod.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker

from gastown.activities import build_activities
from gastown.activities.oauth import OAuthConfig
from gastown.activities.podwatch import PodInformers
from gastown.activities.wait import WAIT_CALLS
from gastown.config import KubeSettings, TemporalSettings
from gastown.kube import NO_RETRY, Kube
from gastown.kube import connect as connect_kube
from gastown.service.connection import ServiceOptions, connect, health_endpoints
from gastown.service.searchattrs import register_search_attributes
from gastown.service.telemetry import count_api_errors
from gastown.telemetry.logcontext import LogContextInterceptor
from gastown.telemetry.tracing import OFF, Tracing
from gastown.telemetry.tracing import from_env as tracing_from_env
from gastown.workflows import WORKFLOWS
from gastown.workflows.resolve import OperatorDefaults

# The export's own timeout is 10 s (OTEL_EXPORTER_OTLP_TIMEOUT); exit never waits longer.
TRACING_SHUTDOWN_SECONDS = 10.0

log = logging.getLogger("gastown.worker")


@dataclass(frozen=True)
class WorkerOptions:
    """Concurrency limits, sized so that a burst can never time out a workflow task.

    The short Kubernetes calls are local activities: they run inside the workflow task that
    scheduled them, so every one of them waiting for the CPU, a thread or the API server
    lengthens a workflow task. With 200 workflow tasks in flight at once on two cores, each
    one's share stretched past 5 s (the SDK's TMPRL1104 warning; past the 10 s workflow task
    timeout the task is retried from scratch). Few workflow tasks at a time, each with its
    calls served at once, finish quickly; the rest wait in Temporal's task queue, which costs
    nothing. The waits (regular activities) hold no thread and no workflow task, so their
    limit can stay high.
    """

    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 16
    max_concurrent_local_activities: int = 16
    graceful_shutdown_seconds: int = 30
    # Where CredentialsWorkflow's keeper refreshes sessions; None: from the environment.
    oauth: OAuthConfig | None = None
    # Add the search attributes the workflows upsert, at start (searchattrs.py).
    register_search_attributes: bool = False

    @property
    def kube_threads(self) -> int:
        """Threads for the synchronous Kubernetes client's short calls: one per local
        activity that may run, plus the waits' own bounded share (their Running status writes
        and fallback GETs), so a wave of waits never delays a local activity.
        Waiting pods hold none (the shared informer reads its watch on a thread of its own),
        so the pool no longer grows with max_concurrent_activities."""
        return self.max_concurrent_local_activities + WAIT_CALLS


def build_worker(
    temporal: Client,
    task_queue: str,
    kube: Kube,
    defaults: OperatorDefaults,
    options: WorkerOptions,
    *,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
    tracing: Tracing = OFF,
) -> Worker:
    """The worker, with one pod informer for all its waits; the informer starts on the first
    wait and is closed when the worker stops (a run context, so `async with` and `run()`
    both close it). `extra_*` are for benchmarks that run a reference beside ours."""
    kube = kube.traced(tracing.tracer("gastown.kube"))
    # One informer per served namespace (their Roles allow no cluster-wide list), else one.
    pods = PodInformers(kube, defaults.namespaces or None)
    return Worker(
        temporal,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[
            *build_activities(kube, defaults, pods, options.oauth, tracing),
            *extra_activities,
        ],
        interceptors=[*tracing.interceptors(), LogContextInterceptor()],
        max_concurrent_activities=options.max_concurrent_activities,
        max_concurrent_workflow_tasks=options.max_concurrent_workflow_tasks,
        max_concurrent_local_activities=options.max_concurrent_local_activities,
        graceful_shutdown_timeout=timedelta(seconds=options.graceful_shutdown_seconds),
        plugins=[SimplePlugin("gastown.pod-informer", run_context=pods.running)],
    )


def use_kube_threads(options: WorkerOptions) -> None:
    """The Kubernetes client blocks; its calls run in the loop's default executor so a slow
    API server never starves the event loop that heartbeats and polls."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=options.kube_threads))


class WorkerReadiness:
    """Ready while connected to Temporal (it answers now) and the Worker runs."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.worker: Worker | None = None

    async def __call__(self) -> tuple[bool, str]:
        if self.client is None:
            return False, "connecting to Temporal"
        if self.worker is None or not self.worker.is_running:
            return False, "starting the worker" if self.worker is None else "worker stopped"
        try:
            await self.client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=2)
            )
        except Exception as exc:
            return False, f"Temporal does not answer: {exc}"
        return True, f"polling task queue {self.worker.task_queue!r}"


async def run_worker(
    temporal_settings: TemporalSettings,
    kube_settings: KubeSettings,
    defaults: OperatorDefaults,
    options: WorkerOptions,
    service: ServiceOptions | None = None,
) -> None:
    service = service or ServiceOptions()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    readiness = WorkerReadiness()
    async with health_endpoints(service.health_port, readiness):
        # A SIGTERM while Temporal does not answer yet ends the process at once.
        runtime = service.runtime()
        stop_counting = count_api_errors(runtime)  # gastown_kube_api_errors_total
        connecting = asyncio.create_task(connect(temporal_settings, runtime))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            log.info("stopped before Temporal answered")
            return
        temporal = readiness.client = connecting.result()
        if options.register_search_attributes:
            await register_search_attributes(temporal)
        # No retry in the activities: Temporal's retry policies are the one place that retries.
        kube = connect_kube(kube_settings, NO_RETRY)
        # One pooled connection per thread, and one for the informer's watch; urllib3 would
        # otherwise open and discard a connection per call beyond its default of 5 per core.
        kube.api.rest_client.pool_manager.connection_pool_kw["maxsize"] = options.kube_threads + 1
        use_kube_threads(options)
        tracing = tracing_from_env("gastown-worker")  # off without OTEL_* (docs/observability.md)
        try:
            worker = build_worker(
                temporal, temporal_settings.task_queue, kube, defaults, options, tracing=tracing
            )
            readiness.worker = worker
            log.info(
                "worker polling task queue %r on %s",
                temporal_settings.task_queue,
                temporal_settings.describe(),
            )
            async with worker:
                await stop.wait()
                log.info(
                    "shutting down: running activities get %ss", options.graceful_shutdown_seconds
                )
        finally:
            stop_counting()
            # Also on a crash (its spans say what led to it), off the loop and bounded.
            await tracing.shutdown_async(TRACING_SHUTDOWN_SECONDS)
