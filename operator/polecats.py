"""Reconcile one Polecat toward what its spec and metadata ask for; level-triggered.

Each run looks at the newest object and does the one thing still missing, so a run that
fails halfway (API error, Temporal down, watcher killed) is simply run again:

- deleting (deletionTimestamp) → finalizer.finalize, then release the finalizer;
- no finalizer yet → add it (so a later `kubectl delete` waits for the workflow);
- desiredState Working without a workflow → adopt: start the PolecatWorkflow (deterministic
  ID, USE_EXISTING) and record the workflow-id annotation; Idle waits;
- desiredState Terminated → the workflow's nuke Update;
- a changed rig, beadID or repository on a polecat that has a workflow → refused (immutable).

Write ownership: the watcher writes metadata.finalizers (its own entry), the workflow-id and
repository annotations on adoption, one condition type (SpecAccepted) by read-modify-write with
the resourceVersion, and `status.pod` (mirror.py). All other status fields are the workflow's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gastown.api import identity as ids
from gastown.api.polecat import DesiredState, Outcome, PolecatPhase, PolecatStatus
from gastown.kube import POLECATS, Conflict, Kube, NotFound, patching, timestamps
from gastown.kube.status import status_patch
from gastown.operator import finalizer, immutable
from gastown.operator.queue import WorkQueue
from gastown.operator.workflow import Workflows

log = logging.getLogger("gastown.watcher.polecats")

Key = tuple[str, str]
FINAL = {p.value for p in PolecatPhase if p.is_final}


def parse_time(text: str) -> datetime:
    return timestamps.parse(text)


@dataclass
class Polecats:
    api: Kube
    workflows: Workflows
    queue: WorkQueue[Key] = field(init=False)
    adopted: int = 0

    def __post_init__(self) -> None:
        self.queue = WorkQueue("polecat", self.reconcile, initial_backoff=0.5, max_backoff=30.0)

    def on_polecat(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        if event_type == "DELETED":
            return
        self.queue.put(key, body)

    async def reconcile(self, key: Key, body: dict[str, Any]) -> None:
        ns, name = key
        meta = body["metadata"]
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        annotations = meta.get("annotations") or {}
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if finalizer.NAME in finalizers:
                await finalizer.finalize(self.api, self.workflows, ns, name)
                await finalizer.release(self.api, body)
            return
        if finalizer.NAME not in finalizers:
            try:
                await finalizer.add(self.api, body)
            except (Conflict, NotFound):
                return  # a newer version (or none) is on its way through the watch
            return  # the patch comes back as an event; the next run goes on from there
        desired = spec.get("desiredState") or DesiredState.IDLE.value
        phase = status.get("phase")
        if desired == DesiredState.WORKING.value:
            if ids.ANNOTATION_WORKFLOW_ID not in annotations and phase not in FINAL:
                await self._adopt(ns, name, body)
                return
        elif desired == DesiredState.TERMINATED.value and phase not in FINAL:
            await self._terminate(ns, name, body)
            return
        if ids.ANNOTATION_WORKFLOW_ID in annotations:
            await immutable.check(self.api, ns, name, body)

    async def _adopt(self, ns: str, name: str, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        created = parse_time(meta["creationTimestamp"])
        await self.workflows.start(ns, name, str(meta["uid"]), created)
        self.adopted += 1
        log.info("adopted polecat %s/%s: workflow %s", ns, name, ids.polecat_workflow_id(ns, name))
        annotations = {ids.ANNOTATION_WORKFLOW_ID: ids.polecat_workflow_id(ns, name)}
        annotations.update(immutable.record(body))
        try:
            patch = {"metadata": {"annotations": annotations}}
            await self.api.run(
                patching.merge(
                    POLECATS, name, patching.with_version(patch, meta["resourceVersion"]), ns
                )
            )
        except NotFound:
            return
        except Conflict:
            # The workflow's ensure step (or the user) changed the object meanwhile; the next
            # run sees the annotation, or starts (joins) the same workflow again: harmless.
            return

    async def _terminate(self, ns: str, name: str, body: dict[str, Any]) -> None:
        reason = "desiredState set to Terminated"
        state = await self.workflows.nuke(ns, name, reason)
        if state is not None:
            log.info("terminated polecat %s/%s (%s)", ns, name, state.phase.value)
            return
        if await self.workflows.running(ns, name):
            raise RuntimeError("the workflow is running but did not take the nuke")
        status = body.get("status") or {}
        if status.get("workflowID") or ids.ANNOTATION_WORKFLOW_ID in (
            body["metadata"].get("annotations") or {}
        ):
            return  # its workflow ended; whatever it recorded stands
        # Never started (Idle → Terminated): there is no workflow to write the final phase.
        never_started = PolecatStatus(
            phase=PolecatPhase.TERMINATED,
            outcome=Outcome.TERMINATED,
            message="terminated before it started",
        )
        await self.api.run(
            patching.merge(POLECATS, name, status_patch(never_started), ns, status=True)
        )
