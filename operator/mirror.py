"""Pod state into `status.pod`.

`status.pod` is the watcher's alone; the workflow writes every other status field (see
gastown.api.polecat.PodMirror). The write is a JSON merge patch on the status subresource that
names only `status.pod`, without a resourceVersion: a merge patch of a nested object leaves
its siblings alone, so it can neither clobber the workflow's fields nor conflict with its
read-modify-write. Fields that disappeared are sent as null (merge-patch deletion), so the
mirror never keeps a stale waiting reason.

Writes are coalesced per polecat: a burst of pod events becomes one patch of the newest state,
and a failed patch (500, 409, 429) is retried by the work queue with the newest state too.

The workflow learns of pod changes from its wait activity alone (activities/wait.py signals
`pod_observed`): that activity runs wherever the workflow runs, while the watcher may not be
deployed, and one source means one signal per change in the workflow's history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gastown.api import identity as ids
from gastown.api.polecat import ContainerMirror, PodMirror
from gastown.kube import POLECATS, Kube, NotFound, patching, timestamps
from gastown.kube.status import fields
from gastown.operator.queue import WorkQueue
from gastown.workflows.classify import observe

log = logging.getLogger("gastown.watcher.mirror")

Key = tuple[str, str]  # (namespace, polecat)
FINAL_POD_PHASES = frozenset({"Succeeded", "Failed"})
MESSAGE_MAX = 1024


def _container(status: dict[str, Any]) -> ContainerMirror:
    state = status.get("state") or {}
    kind = next((k for k in ("terminated", "waiting", "running") if state.get(k) is not None), None)
    detail = state.get(kind) or {} if kind else {}
    message = detail.get("message")
    return ContainerMirror(
        name=str(status.get("name") or ""),
        state=kind,
        reason=detail.get("reason"),
        message=str(message)[:MESSAGE_MAX] if message else None,
        exit_code=detail.get("exitCode"),
        restart_count=status.get("restartCount"),
    )


def pod_mirror(pod: dict[str, Any], deleted: bool = False) -> dict[str, Any]:
    """`status.pod` for this pod: every field present, None where the pod says nothing (so the
    merge patch clears it). `observedAt` is left to the writer."""
    status = pod.get("status") or {}
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    containers = [_container(s) for s in statuses]
    obs = observe(pod, 0)
    # Every container, init ones too: a pod that failed in the agent's (init) container
    # never ran the publisher.
    finished = [
        ((s.get("state") or {}).get("terminated") or {}).get("finishedAt") for s in statuses
    ]
    finished_at = (
        max(f for f in finished if f) if obs.phase in FINAL_POD_PHASES and any(finished) else None
    )
    mirror = PodMirror(
        name=str(pod["metadata"]["name"]),
        phase=obs.phase,
        reason="Deleted" if deleted else obs.reason,
        message="the pod was deleted" if deleted else obs.message,
        ready=False if deleted else obs.ready,
        containers=containers or None,
        started_at=status.get("startTime"),
        finished_at=finished_at,
    )
    body = fields(mirror, clear_unset=True)
    body.pop("observedAt", None)
    if body["containers"] is not None:
        body["containers"] = [
            {k: v for k, v in cont.items() if v is not None} for cont in body["containers"]
        ]
    return body


def attempt_of(pod: dict[str, Any]) -> int:
    try:
        return int((pod["metadata"].get("labels") or {}).get(ids.LABEL_ATTEMPT, "0"))
    except ValueError:
        return 0


@dataclass
class PodState:
    pod: dict[str, Any]
    deleted: bool = False


@dataclass
class Mirror:
    api: Kube
    queue: WorkQueue[Key] = field(init=False)
    # What each polecat's status.pod holds (as far as we wrote it), and the newest attempt seen.
    written: dict[Key, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[Key, int] = field(default_factory=dict)
    writes: int = 0

    def __post_init__(self) -> None:
        self.queue = WorkQueue("mirror", self._write, initial_backoff=0.05, max_backoff=5.0)

    def on_pod(self, event_type: str | None, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        polecat = (meta.get("labels") or {}).get(ids.LABEL_POLECAT)
        if not polecat:
            return
        key = (str(meta["namespace"]), polecat)
        attempt = attempt_of(pod)
        if attempt < self.attempts.get(key, 0):
            return  # an earlier attempt's pod (being reaped): the CR shows the current one
        self.attempts[key] = attempt
        self.queue.put(key, PodState(pod, event_type == "DELETED"))

    def forget(self, key: Key) -> None:
        """The polecat is gone: drop what we remembered about it."""
        self.written.pop(key, None)
        self.attempts.pop(key, None)

    async def _write(self, key: Key, state: PodState) -> None:
        mirror = pod_mirror(state.pod, state.deleted)
        if self.written.get(key) == mirror:
            return
        patch = {"status": {"pod": {**mirror, "observedAt": timestamps.now_micro()}}}
        try:
            await self.api.run(patching.merge(POLECATS, key[1], patch, key[0], status=True))
        except NotFound:
            self.forget(key)
            return
        self.written[key] = mirror
        self.writes += 1
