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

from gastown.operator.kube import Api, NotFound
from gastown.operator.queue import Requeue
from gastown.operator.workflow import Workflows

NAME = "gastown.gastown.io/workflow"
FINAL_POD_PHASES = frozenset({"Succeeded", "Failed"})
POD_POLL_SECONDS = 0.5


async def add(api: Api, ns: str, name: str, meta: dict[str, Any]) -> None:
    finalizers = [*(meta.get("finalizers") or []), NAME]
    await api.patch_polecat(
        ns,
        name,
        {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}},
    )


async def release(api: Api, ns: str, name: str, meta: dict[str, Any]) -> None:
    """Remove our entry only (a JSON patch guarded by a test, so another controller's
    finalizer added meanwhile is never dropped)."""
    finalizers = list(meta.get("finalizers") or [])
    if NAME not in finalizers:
        return
    index = finalizers.index(NAME)
    ops = [
        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": NAME},
        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
    ]
    try:
        await api.patch_polecat(ns, name, ops, json_patch=True)
    except NotFound:
        return
    except Exception as exc:
        # The list moved under us (422 from a failed test, or 409): look again.
        fresh = await _fresh(api, ns, name)
        if fresh is None or NAME not in (fresh["metadata"].get("finalizers") or []):
            return
        raise Requeue(0.1, f"finalizer list changed: {exc}") from exc


async def _fresh(api: Api, ns: str, name: str) -> dict[str, Any] | None:
    try:
        return await api.get_polecat(ns, name)
    except NotFound:
        return None


async def finalize(api: Api, workflows: Workflows, ns: str, name: str) -> None:
    """End the work; raises Requeue while a pod is still going away."""
    await workflows.nuke(ns, name, "the Polecat was deleted")
    live = [
        pod
        for pod in await api.pods_of(ns, name)
        if (pod.get("status") or {}).get("phase") not in FINAL_POD_PHASES
    ]
    for pod in live:
        if not pod["metadata"].get("deletionTimestamp"):
            # No workflow deleted it (it ended without one, or was terminated by hand).
            await api.delete_pod(ns, pod["metadata"]["name"], pod["metadata"].get("uid"))
    if live:
        raise Requeue(POD_POLL_SECONDS, f"waiting for {len(live)} pod(s) of {ns}/{name} to go")
