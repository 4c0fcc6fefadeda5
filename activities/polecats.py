"""The Polecat CR: create or adopt it, and write the workflow-owned part of its status.

Status writes are read-modify-write with the object's resourceVersion, so a concurrent
writer (the watcher mirroring `status.pod`) is never clobbered: a 409 simply retries. The
watcher owns `status.pod`; this module never sends it.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from gastown.activities.errors import permanent
from gastown.activities.kube import Conflict, Kube, NotFound
from gastown.api import identity as ids
from gastown.api.crd import API_VERSION
from gastown.api.polecat import PolecatPhase
from gastown.workflows import contract as c
from gastown.workflows.messages import EnsureRequest, PolecatRef, StatusUpdate

READY = "Ready"
COMPONENT = "gastown-operator"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    status: str,
    *,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Upsert one metav1.Condition; lastTransitionTime moves only when status does."""
    out = [dict(cond) for cond in conditions if cond.get("type") != kind]
    old = next((cond for cond in conditions if cond.get("type") == kind), None)
    changed = old is None or old.get("status") != status
    cond = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": now_rfc3339()
        if changed or old is None
        else old["lastTransitionTime"],
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    out.append(cond)
    return out


def _ready(phase: PolecatPhase) -> str:
    if phase == PolecatPhase.DONE:
        return "True"
    return "False" if phase.is_final else "Unknown"


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
        obj = await self._claim(r.namespace, r.name, r.uid, req.workflow_id, labels)
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
        self, namespace: str, name: str, uid: str, workflow_id: str, labels: dict[str, str]
    ) -> dict[str, Any]:
        gone = permanent(c.POLECAT_GONE, f"polecat {namespace}/{name} was deleted")
        try:
            obj = await self.kube.get_polecat(namespace, name)
        except NotFound as exc:
            raise gone from exc
        if uid and obj["metadata"].get("uid") != uid:
            raise gone
        owner = (obj["metadata"].get("annotations") or {}).get(ids.ANNOTATION_WORKFLOW_ID)
        if owner and owner != workflow_id:
            raise permanent(
                c.NAME_CONFLICT,
                f"polecat {name!r} in {namespace!r} belongs to workflow {owner}; "
                "choose another --name",
            )
        current = obj["metadata"].get("labels") or {}
        if owner is None or any(current.get(k) != v for k, v in labels.items()):
            obj = await self.kube.patch_polecat(
                namespace,
                name,
                {
                    "metadata": {
                        "labels": labels,
                        "annotations": {ids.ANNOTATION_WORKFLOW_ID: workflow_id},
                        "resourceVersion": obj["metadata"]["resourceVersion"],
                    }
                },
            )
        return obj

    @activity.defn(name=c.UPDATE_STATUS)
    async def update_polecat_status(self, update: StatusUpdate) -> None:
        await self._write_status(update)

    async def _write_status(self, u: StatusUpdate) -> None:
        try:
            obj = await self.kube.get_polecat(u.namespace, u.name)
        except NotFound as exc:
            raise permanent(c.POLECAT_GONE, f"polecat {u.namespace}/{u.name} was deleted") from exc
        current: dict[str, Any] = obj.get("status") or {}
        now = now_rfc3339()
        status: dict[str, Any] = {
            "phase": u.phase.value,
            "message": u.message[:4096],
            "lastActivity": now,
            "observedGeneration": obj["metadata"].get("generation"),
        }
        fields = {
            "workflowID": u.workflow_id,
            "runID": u.run_id,
            "podName": u.pod_name,
            "attempt": u.attempt,
            "outcome": u.outcome.value if u.outcome else None,
            "branch": u.branch,
            "commit": u.commit,
            "pullRequestURL": u.pull_request_url,
        }
        status.update({k: v for k, v in fields.items() if v is not None})
        if u.run_id and u.run_id != current.get("runID"):
            # A new run of a re-slung polecat: the last run's results are not this one's.
            status.update(
                {
                    "startedAt": now,
                    "outcome": None,
                    "commit": None,
                    "pullRequestURL": None,
                    "finishedAt": None,
                    "podName": None,
                }
            )
        elif u.started and not current.get("startedAt"):
            status["startedAt"] = now
        if u.finished:
            status["finishedAt"] = now
        status["conditions"] = set_condition(
            current.get("conditions") or [],
            READY,
            _ready(u.phase),
            reason=u.reason,
            message=u.message,
            generation=obj["metadata"].get("generation"),
        )
        patch = {
            "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
            "status": status,
        }
        await self.kube.patch_polecat_status(u.namespace, u.name, patch)
        if u.event_type:
            await self._event(obj, u)

    async def _event(self, obj: dict[str, Any], u: StatusUpdate) -> None:
        """A core/v1 Event on the Polecat, named from its content so a retry cannot double it."""
        meta = obj["metadata"]
        digest = hashlib.sha256(
            f"{u.workflow_id}|{u.attempt}|{u.phase}|{u.reason}".encode()
        ).hexdigest()[:16]
        now = datetime.now(UTC).isoformat()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{digest}", "namespace": u.namespace},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": "Polecat",
                "name": meta["name"],
                "namespace": u.namespace,
                "uid": meta["uid"],
            },
            "reason": u.reason,
            "message": u.message[:1024],
            "type": u.event_type,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        with contextlib.suppress(Conflict):  # an earlier try already recorded this event
            await self.kube.call(self.kube.core.create_namespaced_event, u.namespace, body)
