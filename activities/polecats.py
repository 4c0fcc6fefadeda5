"""The Polecat CR: claim it for a workflow, and write the workflow-owned part of its status.

Status writes are read-modify-write with the object's resourceVersion, so a concurrent
writer (the watcher mirroring `status.pod`) is never clobbered: a 409 reaches Temporal, which
retries the activity. The watcher owns `status.pod`; this module never sends it. Every call
goes through gastown.kube with NO_RETRY (the worker's client): Temporal is the one retrier.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, cast

from temporalio import activity

from gastown.activities.errors import permanent
from gastown.api import identity as ids
from gastown.api.polecat import PolecatPhase, PolecatStatus
from gastown.kube import POLECATS, Kube, NotFound, conditions, events, patching, reading
from gastown.kube.status import status_patch
from gastown.workflows import contract as c
from gastown.workflows.messages import EnsureRequest, PolecatRef, StatusUpdate

READY = "Ready"
COMPONENT = "gastown-operator"
MESSAGE_MAX = 4096
# What a new run of a re-slung polecat clears: the last run's results are not this one's.
# (null in a merge patch deletes the field; podName is the workflow's, status.pod the watcher's.)
RUN_RESULTS = ("outcome", "commit", "pullRequestURL", "finishedAt", "podName", "agentCostUSD")


def _ready(phase: PolecatPhase) -> str:
    if phase == PolecatPhase.DONE:
        return "True"
    return "False" if phase.is_final else "Unknown"


def _gone(namespace: str, name: str) -> Exception:
    return permanent(c.POLECAT_GONE, f"polecat {namespace}/{name} was deleted")


def status_body(obj: dict[str, Any], u: StatusUpdate, now: datetime) -> dict[str, Any]:
    """The status merge patch for `u`, given the Polecat as read (guarded by its
    resourceVersion). Pure, so the reset rules can be read in one place."""
    meta = obj["metadata"]
    current: dict[str, Any] = obj.get("status") or {}
    new_run = bool(u.run_id and u.run_id != current.get("runID"))
    first_start = new_run or (u.started and not current.get("startedAt"))
    status = PolecatStatus(
        phase=u.phase,
        message=u.message[:MESSAGE_MAX],
        last_activity=now,
        observed_generation=meta.get("generation"),
        workflow_id=u.workflow_id,
        run_id=u.run_id,
        attempt=u.attempt,
        branch=u.branch,
        # A new run's first write carries none of these (they were the last run's).
        pod_name=None if new_run else u.pod_name,
        outcome=None if new_run else u.outcome,
        commit=None if new_run else u.commit,
        pull_request_url=None if new_run else u.pull_request_url,
        agent_cost_usd=None if new_run else u.agent_cost_usd,
        started_at=now if first_start else None,
        finished_at=now if u.finished else None,
    )
    old = current.get("conditions") or []
    ready = conditions.condition(
        old, READY, _ready(u.phase), u.reason, u.message, meta.get("generation")
    )
    extra: dict[str, Any] = {"conditions": conditions.upsert(old, ready)}
    if new_run:
        extra.update({k: None for k in RUN_RESULTS if not (k == "finishedAt" and u.finished)})
    return status_patch(status, resource_version=meta["resourceVersion"], extra=extra)


class PolecatActivities:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    @activity.defn(name=c.ENSURE_POLECAT)
    async def ensure_polecat(self, req: EnsureRequest) -> PolecatRef:
        """Claim the CR for this workflow: labels and the workflow-id annotation, then Pending.

        The CR always exists (sling and kubectl apply create it); this never creates one."""
        r = req.resolved
        labels = {
            ids.LABEL_RIG: r.rig,
            ids.LABEL_BEAD: r.bead_id,
            ids.LABEL_MANAGED_BY: ids.MANAGED_BY,
        }
        if r.convoy:
            labels[ids.LABEL_CONVOY] = r.convoy
        obj = await self._claim(r.namespace, r.name, r.uid, req.workflow_id, labels, req.trace_id)
        await self._write_status(
            StatusUpdate(
                namespace=r.namespace,
                name=r.name,
                phase=PolecatPhase.PENDING,
                reason="Dispatched",
                message=f"workflow {req.workflow_id} started",
                workflow_id=req.workflow_id,
                run_id=req.run_id,
                branch=r.work_branch,
                started=True,
            )
        )
        return PolecatRef(namespace=r.namespace, name=r.name, uid=obj["metadata"]["uid"])

    async def _claim(
        self,
        namespace: str,
        name: str,
        uid: str,
        workflow_id: str,
        labels: dict[str, str],
        trace_id: str | None = None,
    ) -> dict[str, Any]:
        try:
            obj = await self.kube.run(reading.get(POLECATS, name, namespace))
        except NotFound as exc:
            raise _gone(namespace, name) from exc
        if uid and obj["metadata"].get("uid") != uid:
            raise _gone(namespace, name)
        annotations = obj["metadata"].get("annotations") or {}
        owner = annotations.get(ids.ANNOTATION_WORKFLOW_ID)
        if owner and owner != workflow_id:
            raise permanent(
                c.NAME_CONFLICT,
                f"polecat {name!r} in {namespace!r} belongs to workflow {owner}; "
                "choose another --name",
            )
        current = obj["metadata"].get("labels") or {}
        # The run's trace, so `polecat status` leads to it (a re-run's replaces the last; an
        # untraced re-run removes it, else status would lead to the previous run's trace).
        traced = annotations.get(ids.ANNOTATION_TRACE_ID) != trace_id
        if owner is None or traced or any(current.get(k) != v for k, v in labels.items()):
            # None in a merge patch deletes the annotation.
            marks: dict[str, str | None] = {
                ids.ANNOTATION_WORKFLOW_ID: workflow_id,
                ids.ANNOTATION_TRACE_ID: trace_id,
            }
            claim = {"metadata": {"labels": labels, "annotations": marks}}
            patch = patching.with_version(claim, obj["metadata"]["resourceVersion"])
            obj = await self.kube.run(patching.merge(POLECATS, name, patch, namespace))
        return obj

    @activity.defn(name=c.UPDATE_STATUS)
    async def update_polecat_status(self, update: StatusUpdate) -> None:
        await self._write_status(update)

    async def _write_status(self, u: StatusUpdate) -> None:
        try:
            obj = await self.kube.run(reading.get(POLECATS, u.name, u.namespace))
        except NotFound as exc:
            raise _gone(u.namespace, u.name) from exc
        patch = status_body(obj, u, datetime.now(UTC))
        await self.kube.run(patching.merge(POLECATS, u.name, patch, u.namespace, status=True))
        if u.event_type:
            # Named from the run, attempt, phase and reason (and the polecat's uid): a retried
            # activity recreates the same name, which gastown.kube reads as already recorded.
            event = events.body(
                obj,
                key=f"{u.workflow_id}|{u.attempt}|{u.phase}|{u.reason}",
                reason=u.reason,
                message=u.message,
                component=COMPONENT,
                kind=cast(Literal["Normal", "Warning"], u.event_type),
            )
            await self.kube.run(events.record(event))
