"""Our Prometheus series: the names, their buckets, and what the workflows record.

Every series is recorded through the Temporal SDK's meter and served by the SDK's own
Prometheus exporter (`--metrics-bind-address`), so one endpoint per process carries the SDK's
`temporal_…` series and our `gastown_…` ones (docs/observability.md). The workflows record
through `workflow.metric_meter()`, which records nothing while a history replays: an outcome
is counted by the workflow task that decided it, once, however often an activity retried.
This module is pure (the names are shared with the watcher and the service) and imports no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from temporalio import workflow

# ------------------------------------------------------------------ the worker (workflows)
POLECATS_STARTED: Final = "gastown_polecats_started_total"
POLECATS_FINISHED: Final = "gastown_polecats_finished_total"
SLING_TO_POD: Final = "gastown_polecat_sling_to_pod_seconds"
POD_RUN: Final = "gastown_polecat_pod_run_seconds"
QUEUE_WAIT: Final = "gastown_polecat_queue_wait_seconds"
AGENT_COST: Final = "gastown_agent_cost_usd"
AGENT_TURNS: Final = "gastown_agent_turns"
# ------------------------------------------------------------------ the watcher
POLECATS: Final = "gastown_polecats"
POLECATS_PARKED: Final = "gastown_polecats_parked"
CONVOYS_RUNNING: Final = "gastown_convoys_running"
CONVOY_BEADS: Final = "gastown_convoy_beads"
CREDENTIALS_EXPIRY: Final = "gastown_credentials_expiry_timestamp_seconds"
WATCHER_EVENT_LAG: Final = "gastown_watcher_event_lag_seconds"
WATCHER_QUEUE_DEPTH: Final = "gastown_watcher_queue_depth"
# ------------------------------------------------------------------ both (gastown.kube)
KUBE_API_ERRORS: Final = "gastown_kube_api_errors_total"

# Histogram buckets, handed to the SDK's exporter (telemetry.py): its defaults (0.05 … 10) fit
# request latencies, not pods that run for an hour.
BUCKETS: Final[dict[str, tuple[float, ...]]] = {
    SLING_TO_POD: (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
    POD_RUN: (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400),
    QUEUE_WAIT: (0.1, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200),
    AGENT_COST: (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 25),
    AGENT_TURNS: (1, 2, 5, 10, 20, 50, 100, 200, 500),
    WATCHER_EVENT_LAG: (0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
}

# Every series each process exposes (the dashboard and alert tests check queries against
# what a scrape really shows, these lists say where to look).
WORKER_SERIES: Final = (
    POLECATS_STARTED,
    POLECATS_FINISHED,
    SLING_TO_POD,
    POD_RUN,
    QUEUE_WAIT,
    AGENT_COST,
    AGENT_TURNS,
    KUBE_API_ERRORS,
)
WATCHER_SERIES: Final = (
    POLECATS,
    POLECATS_PARKED,
    CONVOYS_RUNNING,
    CONVOY_BEADS,
    CREDENTIALS_EXPIRY,
    WATCHER_EVENT_LAG,
    WATCHER_QUEUE_DEPTH,
    KUBE_API_ERRORS,
)


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def polecat_started(rig: str) -> None:
    workflow.metric_meter().create_counter(
        POLECATS_STARTED, "Polecat workflows started, by rig"
    ).add(1, {"rig": rig})


def polecat_finished(rig: str, phase: str, outcome: str) -> None:
    """`outcome`: the runtime's (completed, agent_failed, …) or `none` when no pod decided it
    (refused before a pod, credentials unavailable)."""
    workflow.metric_meter().create_counter(
        POLECATS_FINISHED, "Polecat workflows finished, by rig, phase and outcome"
    ).add(1, {"rig": rig, "phase": phase, "outcome": outcome})


def queue_waited(rig: str, since: datetime) -> None:
    workflow.metric_meter().create_histogram_float(
        QUEUE_WAIT, "From asking the rig for a slot to the grant", "s"
    ).record(_seconds(since, workflow.now()), {"rig": rig})


def pod_ran(rig: str, outcome: str, started: datetime | None, finished: datetime | None) -> None:
    """The pod's own times (its containers' startedAt/finishedAt, read by the wait activity):
    workflow start → first container running, and first container running → last finished."""
    if started is None:
        return
    meter = workflow.metric_meter()
    meter.create_histogram_float(
        SLING_TO_POD, "From the polecat's workflow start to its pod running", "s"
    ).record(_seconds(workflow.info().start_time, started), {"rig": rig})
    if finished is not None:
        meter.create_histogram_float(
            POD_RUN, "How long a polecat's pod ran, by outcome", "s"
        ).record(_seconds(started, finished), {"rig": rig, "outcome": outcome})


def agent_spent(rig: str, cost_usd: float | None, turns: int | None) -> None:
    """What the runtime reported of the agent: cost (sum: `_sum`) and turns per pod."""
    meter = workflow.metric_meter()
    if cost_usd is not None and cost_usd >= 0:
        meter.create_histogram_float(
            AGENT_COST, "The agent's cost per pod as the runtime reported it", "USD"
        ).record(float(cost_usd), {"rig": rig})
    if turns is not None and turns >= 0:
        meter.create_histogram(
            AGENT_TURNS, "The agent's turns per pod as the runtime reported them"
        ).record(int(turns), {"rig": rig})
