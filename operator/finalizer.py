"""`kubectl delete polecat`: end the workflow, wait for the pod to go, then let the CR go.

The finalizer `gastown.gastown.io/workflow` holds the CR while its workflow runs. On deletion
the watcher nukes the workflow (which deletes its pod and records Terminated) and waits until
no live pod of the polecat is left; only then does it remove its finalizer, so `kubectl
delete` returns when the work has really stopped. A polecat whose workflow already finished
goes at once: its finished pod, kept for its logs, is owned by the CR and garbage-collected
with it.
"""

from __future__ import annotations

from typing import Any

from gastown.api.identity import LABEL_POLECAT
from gastown.kube import PODS, POLECATS, Kube, finalizers, reading, writing
from gastown.operator.queue import Requeue
from gastown.operator.workflow import Workflows

NAME = "gastown.gastown.io/workflow"
FINAL_POD_PHASES = frozenset({"Succeeded", "Failed"})
POD_POLL_SECONDS = 0.5


async def add(kube: Kube, body: dict[str, Any]) -> None:
    """Conflict or NotFound reach the caller: a newer version (or none) is on its way."""
    await kube.run(finalizers.add(POLECATS, body, NAME))


async def release(kube: Kube, body: dict[str, Any]) -> None:
    """Remove our entry only (a JSON patch guarded by a test, so another controller's
    finalizer added meanwhile is never dropped)."""
    if not await kube.run(finalizers.remove(POLECATS, body, NAME)):
        raise Requeue(0.1, "the finalizer list changed; looking again")


async def finalize(kube: Kube, workflows: Workflows, ns: str, name: str) -> None:
    """End the work; raises Requeue while a pod is still going away."""
    await workflows.nuke(ns, name, "the Polecat was deleted")
    pods = await kube.run(reading.items(PODS, ns, label_selector=f"{LABEL_POLECAT}={name}"))
    live = [pod for pod in pods if (pod.get("status") or {}).get("phase") not in FINAL_POD_PHASES]
    for pod in live:
        meta = pod["metadata"]
        if not meta.get("deletionTimestamp"):
            # No workflow deleted it (it ended without one, or was terminated by hand). Gone
            # already, or replaced by a pod we do not own: either way nothing to delete.
            await kube.run(writing.delete(PODS, meta["name"], ns, uid=meta.get("uid")))
    if live:
        raise Requeue(POD_POLL_SECONDS, f"waiting for {len(live)} pod(s) of {ns}/{name} to go")
