"""Reading a pod the way an operator on call would: is it done, doomed, or worth another try?

Pure functions over the pod's JSON and the current time, so every failure class has a unit
test and the wait activity stays a thin loop around them. The classes follow DESIGN.md:
terminal reasons fail at once, transient ones (image pulls past a grace window, scheduling
past the pending timeout, eviction, node loss) earn a new attempt pod.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gastown.api.polecat import Outcome
from gastown.runtime.redact import redact
from gastown.runtime.result import outcome_for_exit_code
from gastown.workflows.messages import AttemptResult, PodObservation, Verdict

AGENT_CONTAINER = "claude"
INIT_CONTAINER = "git-init"
PUBLISH_CONTAINER = "publish"

TERMINAL_WAITING = frozenset(
    {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"}
)
PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff"})
TERMINAL_POD_REASONS = frozenset({"DeadlineExceeded"})
TRANSIENT_POD_REASONS = frozenset({"Evicted", "NodeLost", "Shutdown", "NodeShutdown", "Preempting"})
TERMINAL_CONTAINER_REASONS = frozenset({"OOMKilled", "DeadlineExceeded"})
#: What the agent phase may report. The agent runs as its runtime's user in the `claude`
#: container, so it can kill the runtime and write the termination log itself: nothing
#: from there may claim a push, a commit or a PR, and `completed` is not its to say.
AGENT_PHASE_OUTCOMES = frozenset(
    {Outcome.AGENT_FAILED, Outcome.AUTH_EXPIRED, Outcome.STUCK, Outcome.TERMINATED}
)


def _container_statuses(pod: dict[str, Any], init: bool = False) -> list[dict[str, Any]]:
    key = "initContainerStatuses" if init else "containerStatuses"
    statuses: list[dict[str, Any]] = (pod.get("status") or {}).get(key) or []
    return statuses


def _condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            found: dict[str, Any] = cond
            return found
    return None


_NO_NEWS_WAITING = frozenset({"PodInitializing", "ContainerCreating"})


def _waiting(pod: dict[str, Any]) -> tuple[str, str] | None:
    """The first waiting reason of any container, init containers first, one that says why
    (a failing pull, a bad config) over PodInitializing/ContainerCreating: the containers run
    different images (git-init the runtime's, claude the polecat's), so the agent's pull can
    fail while git-init waits. While the agent runs (an init container), and from its end
    until the publisher starts, the publisher waits in PodInitializing, then
    ContainerCreating: that is no news (reported, it made the observation flicker from
    Running to Running/ContainerCreating and back, one needless signal per pod)."""
    agent = _agent_running(pod)
    found: list[tuple[str, str]] = []
    for status in _container_statuses(pod, init=True) + _container_statuses(pod):
        if agent and ((status.get("state") or {}).get("waiting") or {}).get("reason") in (
            _NO_NEWS_WAITING
        ):
            continue
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            found.append((str(waiting["reason"]), str(waiting.get("message") or "")))
    news = [w for w in found if w[0] not in _NO_NEWS_WAITING]
    return (news or found)[0] if found else None


def _agent_running(pod: dict[str, Any]) -> bool:
    """The agent runs in the init container `claude`: the pod is still Pending then, and
    between its end and the publisher's start. Both are the polecat at work."""
    for s in _container_statuses(pod, init=True):
        if s.get("name") != AGENT_CONTAINER:
            continue
        state = s.get("state") or {}
        done = state.get("terminated")
        return state.get("running") is not None or (done is not None and not done.get("exitCode"))
    return False


def _started(pod: dict[str, Any]) -> bool:
    """Has any container (init included) run? A pod stays Pending while it clones; that is
    progress, not the stall the pending timeout is for."""
    return any(
        (s.get("state") or {}).keys() & {"running", "terminated"}
        for s in _container_statuses(pod, init=True) + _container_statuses(pod)
    )


def observe(pod: dict[str, Any], attempt: int) -> PodObservation:
    """The part of a pod change worth telling the workflow and the user.

    `phase` is the pod's, except that a Pending pod whose agent (init) container runs is
    reported Running: to the workflow, `status.pod` and the CLI the polecat is working then,
    although Kubernetes counts the pod as initialising until the publisher starts."""
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    if phase == "Pending" and _agent_running(pod):
        phase = "Running"
    reason = status.get("reason")
    message = status.get("message")
    waiting = _waiting(pod)
    scheduled = _condition(pod, "PodScheduled")
    if waiting:
        reason, message = waiting
    elif scheduled and scheduled.get("status") == "False":
        reason, message = scheduled.get("reason"), scheduled.get("message")
    ready = (_condition(pod, "Ready") or {}).get("status") == "True"
    return PodObservation(
        pod=str(pod["metadata"]["name"]),
        attempt=attempt,
        phase=phase,
        reason=reason,
        message=(message or None) and str(message)[:1024],
        ready=ready,
    )


def parse_result(message: str | None, exit_code: int | None) -> dict[str, Any]:
    """The runtime's termination-message JSON; falls back to the exit code's outcome."""
    if message:
        try:
            doc = json.loads(message)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("outcome") in Outcome.__members__.values():
            return doc
    # The runtime's own table, so a lost termination message still classifies.
    outcome = outcome_for_exit_code(exit_code) if exit_code is not None else None
    return {"outcome": outcome.value if outcome else None, "message": (message or "")[:512]}


def _count(value: Any) -> int | None:
    """A non-negative integer, or None: the message is the pod's word, not a trusted one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    cost = float(value)
    return cost if math.isfinite(cost) and cost >= 0 else None


def _text(value: Any) -> str | None:
    return str(value)[:256] if value is not None else None


def _agent_phase_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """Only what the agent phase may say (see AGENT_PHASE_OUTCOMES)."""
    outcome = Outcome(doc["outcome"]) if doc.get("outcome") else None
    if outcome is not None and outcome not in AGENT_PHASE_OUTCOMES:
        outcome = Outcome.AGENT_FAILED
    return {
        "outcome": outcome,
        "agent_turns": _count(doc.get("agentTurns")),
        "agent_cost_usd": _cost(doc.get("agentCostUSD")),
        "error_class": _text(doc.get("errorClass") or doc.get("error_class")),
    }


def _result_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": Outcome(doc["outcome"]) if doc.get("outcome") else None,
        "branch": doc.get("branch"),
        "base_commit": doc.get("baseCommit") or doc.get("base_commit"),
        "head_commit": doc.get("headCommit") or doc.get("head_commit"),
        "commits": _count(doc.get("commits")),
        "pushed": doc.get("pushed"),
        "pull_request_url": doc.get("pullRequestURL") or doc.get("pull_request_url"),
        "agent_turns": _count(doc.get("agentTurns")),
        "agent_cost_usd": _cost(doc.get("agentCostUSD")),
        "error_class": doc.get("errorClass") or doc.get("error_class"),
    }


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def pod_times(pod: dict[str, Any]) -> dict[str, datetime | None]:
    """When the pod's first container (the clone, usually) started and its last one ended."""
    started: list[datetime] = []
    finished: list[datetime] = []
    for container in _container_statuses(pod, init=True) + _container_statuses(pod):
        state = container.get("state") or {}
        for kind in ("running", "terminated"):
            at = _time((state.get(kind) or {}).get("startedAt"))
            if at is not None:
                started.append(at)
        ended = _time((state.get("terminated") or {}).get("finishedAt"))
        if ended is not None:
            finished.append(ended)
    return {
        "pod_started_at": min(started) if started else None,
        "pod_finished_at": max(finished) if finished else None,
    }


def _finished(pod: dict[str, Any]) -> AttemptResult:
    result = _finished_verdict(pod)
    return result.model_copy(update=pod_times(pod))


def _finished_verdict(pod: dict[str, Any]) -> AttemptResult:
    status = pod.get("status") or {}
    pod_reason = status.get("reason")
    if pod_reason in TRANSIENT_POD_REASONS:
        return AttemptResult(
            verdict=Verdict.TRANSIENT, reason=pod_reason, message=status.get("message") or ""
        )
    if pod_reason in TERMINAL_POD_REASONS:
        return AttemptResult(
            verdict=Verdict.TERMINAL,
            reason=pod_reason,
            message=status.get("message") or "the pod ran past activeDeadlineSeconds",
        )
    # The pod's result is the publisher's; a failed init container (the clone, or a crash of
    # the agent container) ends the pod before it, and its own message says why. A pod of
    # the older two-container shape reports from its main container `claude`.
    init_names = {s.get("name") for s in _container_statuses(pod, init=True)}
    for container in _container_statuses(pod, init=True) + _container_statuses(pod):
        terminated = (container.get("state") or {}).get("terminated")
        if not terminated:
            continue
        name = container.get("name")
        failed_init = name in init_names and bool(terminated.get("exitCode"))
        reporter = name == PUBLISH_CONTAINER or (
            name == AGENT_CONTAINER and AGENT_CONTAINER not in init_names
        )
        if not reporter and not failed_init:
            continue
        reason = str(terminated.get("reason") or "Error")
        exit_code = terminated.get("exitCode")
        if reason in TERMINAL_CONTAINER_REASONS:
            return AttemptResult(
                verdict=Verdict.TERMINAL, reason=reason, message=reason, exit_code=exit_code
            )
        doc = parse_result(terminated.get("message"), exit_code)
        agent_phase = failed_init and name == AGENT_CONTAINER
        fields = _agent_phase_fields(doc) if agent_phase else _result_fields(doc)
        message = str(doc.get("message") or "")
        if agent_phase:
            message = redact(message[:512])
        if fields["outcome"] is None:
            clone = failed_init and name == INIT_CONTAINER
            fields["outcome"] = Outcome.CLONE_FAILED if clone else Outcome.POD_FAILED
        return AttemptResult(
            verdict=Verdict.FINISHED,
            reason=reason,
            message=message[:1024],
            exit_code=exit_code,
            **fields,
        )
    return AttemptResult(
        verdict=Verdict.TRANSIENT,
        reason=pod_reason or "ContainerStatusMissing",
        message="the pod ended without a terminated agent container",
    )


@dataclass
class PodJudge:
    """Decides, change by change, whether waiting on an attempt's pod should stop.

    It remembers when an image pull first failed, so the grace window is measured from the
    first failure rather than from each back-off.
    """

    pending_timeout_seconds: int
    image_pull_grace_seconds: int
    pull_failing_since: datetime | None = None
    # When a failing pull recovered: the pending clock restarts there, so the pod gets its
    # full pending time to start after an image finally arrives.
    pull_recovered_at: datetime | None = None

    def judge(self, pod: dict[str, Any], now: datetime) -> AttemptResult | None:
        status = pod.get("status") or {}
        phase = status.get("phase") or "Pending"
        if phase in ("Succeeded", "Failed"):
            return _finished(pod)
        disruption = _condition(pod, "DisruptionTarget")
        if disruption and disruption.get("status") == "True":
            return AttemptResult(
                verdict=Verdict.TRANSIENT,
                reason=str(disruption.get("reason") or "Evicted"),
                message=str(disruption.get("message") or ""),
            )
        waiting = _waiting(pod)
        if waiting and waiting[0] in TERMINAL_WAITING:
            return AttemptResult(verdict=Verdict.TERMINAL, reason=waiting[0], message=waiting[1])
        if waiting and waiting[0] in PULL_WAITING:
            # A failing pull has its own grace window; the pending timeout waits for it.
            self.pull_failing_since = self.pull_failing_since or now
            if (now - self.pull_failing_since).total_seconds() >= self.image_pull_grace_seconds:
                return AttemptResult(
                    verdict=Verdict.TRANSIENT, reason=waiting[0], message=waiting[1]
                )
            return None
        if self.pull_failing_since is not None:
            self.pull_recovered_at = now
        self.pull_failing_since = None
        if phase == "Pending" and not _started(pod) and self._pending_too_long(pod, now):
            scheduled = _condition(pod, "PodScheduled") or {}
            unschedulable = scheduled.get("status") == "False"
            return AttemptResult(
                verdict=Verdict.TRANSIENT,
                reason=str(scheduled.get("reason")) if unschedulable else "PendingTimeout",
                message=str(scheduled.get("message") or "")
                if unschedulable
                else f"the pod stayed Pending for over {self.pending_timeout_seconds}s",
            )
        return None

    def _pending_too_long(self, pod: dict[str, Any], now: datetime) -> bool:
        created = pod["metadata"].get("creationTimestamp")
        if not created:
            return False
        since = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        if self.pull_recovered_at is not None:
            since = max(since, self.pull_recovered_at)
        return (now - since).total_seconds() >= self.pending_timeout_seconds
