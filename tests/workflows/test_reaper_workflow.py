"""PodReaperWorkflow on the time-skipping test server: the pod is deleted once its TTL passed.

The delay is a durable timer, skipped on the test server's clock while the test awaits the
result; the deletion is asserted to happen no earlier than the delay after the start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from gastown.api.identity import reaper_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.messages import DeletePod, ReapRequest
from gastown.workflows.reaper import PodReaperWorkflow
from tests.workflows import doubles as d
from tests.workflows.doubles import DEADLINE, Script
from tests.workflows.harness import Harness

pytestmark = pytest.mark.timeout(60)

HarnessFactory = Callable[[Script], AbstractAsyncContextManager[Harness]]


@pytest.mark.parametrize("delay", [3600, 0])
async def test_reaper_deletes_the_pod_after_its_delay(harness: HarnessFactory, delay: int) -> None:
    pod = DeletePod(namespace=d.NAMESPACE, name=f"polecat-reaped-{delay}-1", uid="pod-uid-1")
    async with harness(Script(d.resolved("reaper"))) as h:
        handle = await h.env.client.start_workflow(
            PodReaperWorkflow.run,
            ReapRequest(pod=pod, delay_seconds=delay),
            id=reaper_workflow_id(pod.namespace, pod.name),
            task_queue=h.task_queue,
        )
        await asyncio.wait_for(handle.result(), DEADLINE)

        [call] = [x for x in h.doubles.calls if x.workflow_type == d.REAPER]
        assert (call.name, call.arg, call.local) == (c.DELETE_POD, pod, False)
        started = (await handle.describe()).start_time
        assert call.scheduled is not None and started is not None
        assert call.scheduled - started >= timedelta(seconds=delay)
        timers = [
            e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            for e in [e async for e in handle.fetch_history_events()]
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        ]
        assert timers == ([timedelta(seconds=delay)] if delay else [])
