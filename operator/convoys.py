"""Adopt Convoys made with `kubectl apply`, and tell running convoys of beads added to the spec.

As for Polecats (polecats.py), the CR is the one way in and the workflow's input is the
convoy's identity: a Convoy without the workflow-id annotation whose status is not final gets
its `ConvoyWorkflow` started (deterministic ID `convoy/<ns>/<name>`, USE_EXISTING, so a
`convoy create` that started it already is joined, not doubled) and the annotation recorded.
Each run looks at the newest object and does what is still missing, through the level-
triggered work queue: a Temporal outage delays an adoption, never loses it.

`trackedBeads` grown on a running convoy (`kubectl edit`/`apply`): the workflow read the spec
when it started, so it is sent the `add_beads` Update with the spec's beads that its status
does not list. `status.beads` is the workflow's own record of every bead it has, so no
Temporal call is needed to compare; before the workflow's first status write there is nothing
to compare with, and that write (an event like any other) brings the convoy back here. The
workflow re-reads the CR and ignores beads it has, so sending one twice is harmless (`convoy
add` sends its own Update too); the Update's ID is the convoy's UID and generation, so a
retried call is the same Update. The comparison is made once per spec generation (status
writes, twice a second on a busy convoy, do not change it), and again after a restart.

The watcher writes only the workflow-id annotation of a Convoy; its status is the workflow's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from gastown.api import identity as ids
from gastown.api.convoy import ConvoyPhase
from gastown.kube import CONVOYS, Conflict, Kube, NotFound, patching, timestamps
from gastown.operator.queue import WorkQueue
from gastown.operator.workflow import ConvoyWorkflows, convoy_summary
from gastown.workflows.messages import ConvoyProgress

log = logging.getLogger("gastown.watcher.convoys")

Key = tuple[str, str]
# An add_beads Update re-reads the CR (one local activity): seconds. Past this, the work queue
# retries (a worker may be down) rather than holding the convoy's queue.
ADD_BEADS_TIMEOUT_SECONDS = 120
FINAL = frozenset(p.value for p in ConvoyPhase if p.is_final)


def missing_beads(body: dict[str, Any]) -> list[str] | None:
    """Spec beads the workflow's status does not list, in spec order; None before the
    workflow's first status write."""
    listed = (body.get("status") or {}).get("beads")
    if listed is None:
        return None
    known = {str(b.get("beadID")) for b in listed if isinstance(b, dict)}
    spec = [str(b) for b in (body.get("spec") or {}).get("trackedBeads") or []]
    return [b for b in spec if b not in known]


@dataclass
class Convoys:
    api: Kube
    workflows: ConvoyWorkflows
    queue: WorkQueue[Key] = field(init=False)
    adopted: int = 0
    updates: int = 0  # add_beads Updates sent
    # (uid, generation) of each convoy's spec last compared with its workflow's beads.
    looked: dict[Key, tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue = WorkQueue("convoy", self.reconcile, initial_backoff=0.5, max_backoff=30.0)

    def on_convoy(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        if event_type == "DELETED":
            self.looked.pop(key, None)
            return
        self.queue.put(key, body)

    async def reconcile(self, key: Key, body: dict[str, Any]) -> None:
        ns, name = key
        meta = body["metadata"]
        if meta.get("deletionTimestamp"):
            return  # the workflow finds the CR gone and ends Cancelled
        if (body.get("status") or {}).get("phase") in FINAL:
            self.looked.pop(key, None)
            return
        if ids.ANNOTATION_WORKFLOW_ID not in (meta.get("annotations") or {}):
            await self._adopt(ns, name, body)
            return
        version = (str(meta["uid"]), int(meta.get("generation") or 0))
        if self.looked.get(key) == version:
            return
        beads = missing_beads(body)
        if beads is None:
            return  # nothing written yet: the workflow's first status write comes back here
        if beads:
            update_id = f"add-beads/{version[0]}/{version[1]}"
            progress = await self._add(ns, name, beads, update_id)
            self.updates += 1
            log.info(
                "convoy %s/%s: told its workflow of %d bead(s) added to the spec%s",
                ns,
                name,
                len(beads),
                "" if progress is not None else " (not running, or it refused them)",
            )
        self.looked[key] = version

    async def _add(
        self, ns: str, name: str, beads: list[str], update_id: str
    ) -> ConvoyProgress | None:
        """The add_beads Update; None when no workflow runs or its validator refused
        (finished, or stopping)."""
        try:
            async with asyncio.timeout(ADD_BEADS_TIMEOUT_SECONDS):
                return await self.workflows.add(ns, name, beads, update_id=update_id)
        except WorkflowUpdateFailedError:
            return None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _adopt(self, ns: str, name: str, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        created = timestamps.parse(meta["creationTimestamp"])
        spec = body.get("spec") or {}
        summary, details = convoy_summary(
            str(spec.get("description") or name),
            str(spec.get("rigRef") or ""),
            len(spec.get("trackedBeads") or []),
            int(spec.get("parallelism") or 0),
        )
        await self.workflows.start(
            ns, name, str(meta["uid"]), created, summary=summary, details=details
        )
        self.adopted += 1
        wid = ids.convoy_workflow_id(ns, name)
        log.info("adopted convoy %s/%s: workflow %s", ns, name, wid)
        patch = {"metadata": {"annotations": {ids.ANNOTATION_WORKFLOW_ID: wid}}}
        try:
            await self.api.run(
                patching.merge(
                    CONVOYS, name, patching.with_version(patch, meta["resourceVersion"]), ns
                )
            )
        except (NotFound, Conflict):
            # Gone, or changed meanwhile: the next run sees the annotation, or joins the same
            # workflow again (USE_EXISTING) and records it then.
            return
