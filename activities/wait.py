"""wait_pod: follow one pod through the worker's shared informer until the judge has a verdict.

Push, not poll: the worker's one pod watch (activities/podwatch.py) wakes this activity when
its pod changes; each change is judged, reported to the workflow (a `pod_observed` signal for
a new phase or waiting reason of a live pod — the one source of those signals) and, on the move
to Running, written to the Polecat's status. Between changes the wait is bounded
(`watch_seconds`), so time-based verdicts (pending timeout, image-pull grace) fire on a silent
pod, and each wake heartbeats.

Heartbeats carry the judge's memory and what was last reported, so a retried activity (a killed
worker, a lost connection) neither re-signals nor restarts the grace windows. The pod itself is
not in the heartbeat: the informer's cache answers at once, and a pod it does not hold (just
created, or a new worker whose informer is still listing) is read with one GET.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from gastown.activities.errors import permanent
from gastown.activities.podwatch import PodInformer, PodInformers
from gastown.activities.polecats import PolecatActivities
from gastown.api.polecat import PolecatPhase
from gastown.kube import PODS, Kube, NotFound, reading
from gastown.workflows import contract as c
from gastown.workflows.classify import PodJudge, observe
from gastown.workflows.messages import (
    AttemptResult,
    PodObservation,
    StatusUpdate,
    Verdict,
    WaitRequest,
)

WATCH_SECONDS = 10
FINAL_PHASES = frozenset({"Succeeded", "Failed"})
# Kubernetes calls the waits make at once (fallback GETs, the Running status write). Bounded so
# a wave of waits (200 pods starting together) cannot take the threads the local activities
# need: the worker sizes its pool as local activities + this.
WAIT_CALLS = 8


class Progress(BaseModel):
    """Heartbeat details: enough to resume without re-judging from scratch."""

    resource_version: str | None = None
    pull_failing_since: datetime | None = None
    pull_recovered_at: datetime | None = None
    last: PodObservation | None = None
    running_recorded: bool = False


@dataclass
class WaitActivities:
    kube: Kube
    polecats: PolecatActivities
    pods: PodInformers
    watch_seconds: int = WATCH_SECONDS
    calls: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(WAIT_CALLS))

    @activity.defn(name=c.WAIT_POD)
    async def wait_pod(self, req: WaitRequest) -> AttemptResult:
        details = activity.info().heartbeat_details
        progress = Progress.model_validate(details[0]) if details else Progress()
        judge = PodJudge(
            req.pending_timeout_seconds,
            req.image_pull_grace_seconds,
            pull_failing_since=progress.pull_failing_since,
            pull_recovered_at=progress.pull_recovered_at,
        )
        informer = self.pods.of(req.pod.namespace)
        while True:
            pod = await self._current(req, informer)
            if pod is None:
                return self._vanished(req)
            if pod["metadata"].get("uid") != req.pod.uid:
                raise permanent(c.POD_CONFLICT, f"pod {req.pod.name} was replaced by another pod")
            rv = pod["metadata"].get("resourceVersion")
            if rv != progress.resource_version:
                await self._report(req, pod, progress)
                progress.resource_version = rv
            verdict = judge.judge(pod, datetime.now(UTC))
            if verdict is not None:
                return verdict
            progress.pull_failing_since = judge.pull_failing_since
            progress.pull_recovered_at = judge.pull_recovered_at
            activity.heartbeat(progress.model_dump(mode="json"))
            if informer is None:
                await asyncio.sleep(self.watch_seconds)  # a namespace this worker does not watch
            else:
                await informer.changed(req.pod.namespace, req.pod.name, rv, self.watch_seconds)

    async def _current(
        self, req: WaitRequest, informer: PodInformer | None
    ) -> dict[str, Any] | None:
        """The pod as the informer holds it; one GET when it cannot answer for this pod.
        None: the pod is gone."""
        ns, name, uid = req.pod.namespace, req.pod.name, req.pod.uid
        if informer is not None:
            pod = informer.get(ns, name)
            if pod is not None and pod["metadata"].get("uid") == uid and informer.live:
                return pod
            if informer.deleted(ns, name, uid):
                return None
        try:
            async with self.calls:
                return await self.kube.run(reading.get(PODS, name, ns))
        except NotFound:
            return None

    def _vanished(self, req: WaitRequest) -> AttemptResult:
        return AttemptResult(
            verdict=Verdict.TRANSIENT,
            reason="PodDeleted",
            message=f"pod {req.pod.name} disappeared (deleted, or its node was lost)",
        )

    async def _report(self, req: WaitRequest, pod: dict[str, Any], progress: Progress) -> None:
        obs = observe(pod, req.pod.attempt)
        last = progress.last or PodObservation(pod=obs.pod, attempt=obs.attempt, phase="Pending")
        progress.last = obs
        # Tell the workflow what it cannot know yet: a new phase or waiting reason while the
        # pod lives. The final phase arrives as this activity's result; a signal for it would
        # only add history.
        if (obs.phase, obs.reason) == (last.phase, last.reason) or obs.phase in FINAL_PHASES:
            return
        if obs.phase == "Running" and not progress.running_recorded:
            async with self.calls:
                await self._record_running(req)
            progress.running_recorded = True
        info = activity.info()
        if info.workflow_id is None:  # run outside a workflow (tests): nobody to tell
            return
        handle = activity.client().get_workflow_handle(
            info.workflow_id, run_id=info.workflow_run_id
        )
        try:
            await handle.signal(c.SIGNAL_POD_OBSERVED, obs)
        except Exception as exc:  # the signal is an optimisation; the result still arrives
            activity.logger.warning("could not signal %s: %s", info.workflow_id, exc)

    async def _record_running(self, req: WaitRequest) -> None:
        await self.polecats.update_polecat_status(
            StatusUpdate(
                namespace=req.pod.namespace,
                name=req.polecat,
                phase=PolecatPhase.WORKING,
                reason="PodRunning",
                message=f"pod {req.pod.name} is running",
                pod_name=req.pod.name,
                attempt=req.pod.attempt,
            )
        )
