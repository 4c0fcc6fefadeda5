"""wait_pod: watch one pod until the judge has a verdict; resume where a retry left off.

Push first: a watch on the pod (field selector on its name) delivers each change; every
change is signalled to the workflow and, on the move to Running, written to the Polecat's
status. Heartbeats carry the last resourceVersion and the judge's memory, so a retried
activity (a killed worker, a lost connection) continues the same watch instead of starting
over. A 410 re-lists. Each watch call is bounded, so time-based verdicts (pending timeout,
image-pull grace) fire even when the pod is silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import watch
from pydantic import BaseModel
from temporalio import activity

from gastown.activities.errors import permanent
from gastown.activities.kube import Gone, Kube, NotFound
from gastown.activities.polecats import PolecatActivities
from gastown.api.polecat import PolecatPhase
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
    watch_seconds: int = WATCH_SECONDS

    def _watch_once(self, namespace: str, name: str, rv: str) -> list[dict[str, Any]]:
        """Block until the pod changes or the bounded watch ends; returns raw events."""
        w = watch.Watch()
        events: list[dict[str, Any]] = []
        for event in w.stream(
            self.kube.core.list_namespaced_pod,
            namespace,
            field_selector=f"metadata.name={name}",
            resource_version=rv,
            timeout_seconds=self.watch_seconds,
            allow_watch_bookmarks=True,
        ):
            events.append({"type": event["type"], "object": event["raw_object"]})
            if event["type"] != "BOOKMARK":
                w.stop()
                break
        return events

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
        pod: dict[str, Any] | None = None
        while True:
            if progress.resource_version is None:
                try:
                    pod = await self.kube.get_pod(req.pod.namespace, req.pod.name)
                except NotFound:
                    return self._vanished(req)
                progress.resource_version = pod["metadata"]["resourceVersion"]
            else:
                try:
                    events = await self.kube.call(
                        self._watch_once,
                        req.pod.namespace,
                        req.pod.name,
                        progress.resource_version,
                    )
                except Gone:
                    progress.resource_version = None
                    continue
                for event in events:
                    obj = event["object"]
                    progress.resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        return self._vanished(req)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        pod = obj
            if pod is not None:
                if pod["metadata"].get("uid") != req.pod.uid:
                    raise permanent(
                        c.POD_CONFLICT, f"pod {req.pod.name} was replaced by another pod"
                    )
                await self._report(req, pod, progress)
                verdict = judge.judge(pod, datetime.now(UTC))
                if verdict is not None:
                    return verdict
            progress.pull_failing_since = judge.pull_failing_since
            progress.pull_recovered_at = judge.pull_recovered_at
            activity.heartbeat(progress.model_dump(mode="json"))

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
