"""The Temporal worker: registers the workflows and activities and runs until told to stop.

Graceful shutdown lets running activities finish or heartbeat-time-out; it never deletes a
pod. A polecat whose wait activity was interrupted resumes on the next worker from its last
heartbeat and adopts the same pod.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from gastown.activities import build_activities
from gastown.config import KubeSettings, TemporalSettings
from gastown.kube import NO_RETRY, Kube
from gastown.kube import connect as connect_kube
from gastown.workflows import WORKFLOWS
from gastown.workflows.resolve import OperatorDefaults

log = logging.getLogger("gastown.worker")


@dataclass(frozen=True)
class WorkerOptions:
    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 100
    graceful_shutdown_seconds: int = 30

    @property
    def kube_threads(self) -> int:
        """Each waiting pod's watch holds a thread of the synchronous Kubernetes client; the
        rest serve the short calls. Sized so waits can never starve them."""
        return self.max_concurrent_activities + 16


async def connect(settings: TemporalSettings) -> Client:
    return await Client.connect(**settings.connect_kwargs(), data_converter=pydantic_data_converter)


def build_worker(
    temporal: Client,
    task_queue: str,
    kube: Kube,
    defaults: OperatorDefaults,
    options: WorkerOptions,
) -> Worker:
    return Worker(
        temporal,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(kube, defaults),
        max_concurrent_activities=options.max_concurrent_activities,
        max_concurrent_workflow_tasks=options.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=options.graceful_shutdown_seconds),
    )


async def run_worker(
    temporal_settings: TemporalSettings,
    kube_settings: KubeSettings,
    defaults: OperatorDefaults,
    options: WorkerOptions,
) -> None:
    temporal = await connect(temporal_settings)
    # No retry in the activities: Temporal's retry policies are the one place that retries.
    kube = connect_kube(kube_settings, NO_RETRY)
    # The Kubernetes client blocks; its calls run in threads so a slow API server never
    # starves the event loop that heartbeats and polls.
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=options.kube_threads))
    worker = build_worker(temporal, temporal_settings.task_queue, kube, defaults, options)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker polling task queue %r on %s (namespace %s)",
        temporal_settings.task_queue,
        temporal_settings.address,
        temporal_settings.namespace,
    )
    async with worker:
        await stop.wait()
        log.info("shutting down: running activities get %ss", options.graceful_shutdown_seconds)
