"""launch_pod, delete_pod and schedule_pod_deletion: idempotent by name, labels and UID.

A retried launch finds the pod an earlier try created (409 AlreadyExists) and adopts it when
its labels say it belongs to this workflow and attempt; a pod of the same name that does not
is a conflict, never silently reused. Deletion is by UID precondition, so a deletion running
late never deletes a newer pod that reused the name. A finished pod is not deleted by a
workflow at all: schedule_pod_deletion annotates it with when the watcher may delete it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from gastown.activities import podspec
from gastown.activities.errors import permanent
from gastown.api import identity as ids
from gastown.api.types import format_time
from gastown.kube import (
    CONFIGMAPS,
    PODS,
    POLECATS,
    Conflict,
    Invalid,
    Kube,
    NotFound,
    patching,
    reading,
    writing,
)
from gastown.telemetry.podenv import pod_env, with_env
from gastown.telemetry.tracing import OFF, Tracing
from gastown.workflows import contract as c
from gastown.workflows.messages import DeletePod, LaunchRequest, PodDeletion, PodRef


def _owner(pod: dict[str, Any], req: LaunchRequest) -> str:
    """`this-run`, `earlier-run` (a re-sling of a finished polecat) or `other`."""
    labels = pod["metadata"].get("labels") or {}
    if labels.get(ids.LABEL_WORKFLOW) != ids.workflow_label(req.workflow_id):
        return "other"
    if labels.get(ids.LABEL_RUN) == req.run_id and labels.get(ids.LABEL_ATTEMPT) == str(
        req.attempt
    ):
        return "this-run"
    return "earlier-run"


class PodActivities:
    def __init__(self, kube: Kube, tracing: Tracing = OFF) -> None:
        self.kube = kube
        self.tracing = tracing

    async def _ensure_task(self, req: LaunchRequest) -> None:
        """The task text goes to the pod as a file; the CR is its source, not history."""
        r = req.resolved
        polecat = await self.kube.run(reading.get(POLECATS, r.name, r.namespace))
        task = (polecat.get("spec") or {}).get("taskDescription") or ""
        body = podspec.task_configmap(req, task)
        await self.kube.run(writing.create_or_replace(CONFIGMAPS, body, r.namespace))

    @activity.defn(name=c.LAUNCH_POD)
    async def launch_pod(self, req: LaunchRequest) -> PodRef:
        r = req.resolved
        if r.has_task:
            await self._ensure_task(req)
        # The pod joins this activity's trace (TRACEPARENT), when the worker traces.
        body = with_env(podspec.build_pod(req), pod_env(self.tracing))
        name = body["metadata"]["name"]
        try:
            pod = await self.kube.run(writing.create(PODS, body, r.namespace))
        except Conflict:
            pod = await self.kube.run(reading.get(PODS, name, r.namespace))
            owner = _owner(pod, req)
            if owner == "other":
                raise permanent(
                    c.POD_CONFLICT,
                    f"pod {name!r} exists but was not created by {req.workflow_id} attempt "
                    f"{req.attempt}; delete it or nuke the polecat",
                ) from None
            if owner == "earlier-run":
                # The polecat was slung again after it finished: its old pod (kept for its
                # logs) must make way. Deleting by UID, then retrying, never touches a newer pod.
                await self.delete_pod(
                    DeletePod(
                        namespace=r.namespace,
                        name=name,
                        uid=pod["metadata"]["uid"],
                        grace_seconds=0,
                    )
                )
                raise ApplicationError(
                    f"replacing {name} left by an earlier run; retrying"
                ) from None
            activity.logger.info("adopted existing pod %s", name)
        except Invalid as exc:
            raise permanent(c.INVALID_SPEC, f"the API server refused pod {name}: {exc}") from exc
        return PodRef(
            namespace=r.namespace, name=name, uid=pod["metadata"]["uid"], attempt=req.attempt
        )

    @activity.defn(name=c.DELETE_POD)
    async def delete_pod(self, req: DeletePod) -> bool:
        """True when a pod was deleted; False when it was already gone (or replaced)."""
        delete = writing.delete(
            PODS,
            req.name,
            req.namespace,
            uid=req.uid,
            grace_seconds=req.grace_seconds,
            propagation="Background",
        )
        try:
            return await self.kube.run(delete)
        except Conflict:
            return False  # the name now belongs to another pod

    @activity.defn(name=c.SCHEDULE_POD_DELETION)
    async def schedule_pod_deletion(self, req: PodDeletion) -> bool:
        """Annotate the finished pod with when the watcher may delete it (now + its TTL).

        The annotation is patched guarded by the resourceVersion of the pod just read and
        only when its UID is the one the workflow launched, so a newer pod that reused the
        name keeps its own. False when the pod is already gone (or replaced): nothing to do."""
        try:
            pod = await self.kube.run(reading.get(PODS, req.name, req.namespace))
        except NotFound:
            return False
        meta = pod["metadata"]
        if meta.get("uid") != req.uid:
            return False
        when = format_time(datetime.now(UTC) + timedelta(seconds=req.ttl_seconds))
        patch = {"metadata": {"annotations": {ids.ANNOTATION_DELETE_AFTER: when}}}
        try:
            await self.kube.run(
                patching.merge(
                    PODS,
                    req.name,
                    patching.with_version(patch, meta["resourceVersion"]),
                    req.namespace,
                )
            )
        except NotFound:
            return False
        return True
