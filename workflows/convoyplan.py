"""A convoy's bookkeeping, pure: what a report does to a bead, the counts, the final phase and
the markdown the Temporal UI shows.

ConvoyWorkflow (convoy.py) holds the beads and acts; every decision about them is here, as
functions of plain data, so the tests can exercise each rule without a server and the
workflow stays a short loop of "dispatch, wait, apply".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gastown.api.convoy import BeadPhase, ConvoyPhase, FailurePolicy
from gastown.api.polecat import PolecatPhase
from gastown.workflows.messages import (
    ConvoyBead,
    ConvoyCounts,
    PolecatReport,
)

# Why a convoy stopped dispatching (its status.reason).
CANCELLED = "Cancelled"
STOPPED_ON_FAILURE = "StoppedOnFailure"
MAX_COST_REACHED = "MaxCostReached"
# Not a stop: the convoy's status.reason while its polecats wait for credentials.
WAITING_FOR_CREDENTIALS = "WaitingForCredentials"
DETAILS_ROWS = 50  # beads listed in the Temporal UI's details; the rest are counted

_MARK = {
    BeadPhase.DONE: "✓",
    BeadPhase.FAILED: "✗",
    BeadPhase.SKIPPED: "-",
    BeadPhase.DISPATCHED: "○",
    BeadPhase.PENDING: "·",
}


def new_beads(known: Iterable[str], wanted: Iterable[str]) -> list[ConvoyBead]:
    """Beads for the IDs in `wanted` not in `known`, in order, each once."""
    seen = set(known)
    beads = []
    for bead_id in wanted:
        if bead_id not in seen:
            seen.add(bead_id)
            beads.append(ConvoyBead(bead_id=bead_id))
    return beads


def next_pending(beads: Sequence[ConvoyBead]) -> int | None:
    """The index of the next bead to dispatch: the first Pending in spec order (a bead to
    retry goes back to Pending, so it goes before the ones never dispatched after it)."""
    return next((i for i, b in enumerate(beads) if b.phase == BeadPhase.PENDING), None)


def running(beads: Sequence[ConvoyBead]) -> list[ConvoyBead]:
    return [b for b in beads if b.phase == BeadPhase.DISPATCHED]


def dispatched(bead: ConvoyBead, polecat: str, workflow_id: str) -> ConvoyBead:
    """The bead once its (next) polecat's CR exists."""
    return bead.model_copy(
        update={
            "phase": BeadPhase.DISPATCHED,
            "polecat": polecat,
            "workflow_id": workflow_id,
            "polecat_phase": PolecatPhase.PENDING,
            "attempts": bead.attempts + 1,
        }
    )


def applies(bead: ConvoyBead, report: PolecatReport) -> bool:
    """A report counts only for the bead's current polecat while it runs: a late or repeated
    one (the audit and the signal both told; an earlier retry's polecat) changes nothing."""
    return bead.phase == BeadPhase.DISPATCHED and bead.workflow_id == report.workflow_id


def apply_report(
    bead: ConvoyBead,
    report: PolecatReport,
    policy: FailurePolicy,
    max_retries: int,
    *,
    stopping: bool,
) -> ConvoyBead:
    """The bead after its polecat's report. A final failure goes back to Pending for a new
    polecat when the policy is Retry, retries are left, nothing stops the convoy and the
    polecat was not nuked (Terminated: someone meant it to stop)."""
    if not report.phase.is_final:
        return bead.model_copy(update={"polecat_phase": report.phase})
    cost = report.agent_cost_usd
    total = (bead.cost_usd or 0.0) + cost if cost is not None else bead.cost_usd
    update = {
        "polecat_phase": report.phase,
        "outcome": report.outcome,
        "reason": report.reason,
        "message": report.message,
        "branch": report.branch or bead.branch,
        "pull_request_url": report.pull_request_url or bead.pull_request_url,
        "cost_usd": total,
    }
    if report.phase == PolecatPhase.DONE:
        return bead.model_copy(update={**update, "phase": BeadPhase.DONE})
    retry = (
        policy == FailurePolicy.RETRY
        and not stopping
        and report.phase != PolecatPhase.TERMINATED
        and bead.attempts <= max_retries
    )
    return bead.model_copy(
        update={**update, "phase": BeadPhase.PENDING if retry else BeadPhase.FAILED}
    )


def stop(beads: Sequence[ConvoyBead]) -> list[ConvoyBead]:
    """Nothing more is dispatched: a bead never dispatched is Skipped; one waiting for a
    retry keeps its last failure (Failed)."""
    return [
        b.model_copy(update={"phase": BeadPhase.FAILED if b.attempts else BeadPhase.SKIPPED})
        if b.phase == BeadPhase.PENDING
        else b
        for b in beads
    ]


def counts(beads: Sequence[ConvoyBead]) -> ConvoyCounts:
    by_phase = {phase: 0 for phase in BeadPhase}
    queued = waiting = 0
    for b in beads:
        by_phase[b.phase] += 1
        if b.phase == BeadPhase.DISPATCHED and b.polecat_phase == PolecatPhase.QUEUED:
            queued += 1
        waiting += waiting_bead(b)
    return ConvoyCounts(
        total=len(beads),
        done=by_phase[BeadPhase.DONE],
        running=by_phase[BeadPhase.DISPATCHED],
        queued=queued,
        pending=by_phase[BeadPhase.PENDING],
        failed=by_phase[BeadPhase.FAILED],
        skipped=by_phase[BeadPhase.SKIPPED],
        waiting=waiting,
    )


def waiting_bead(bead: ConvoyBead) -> bool:
    """Its polecat is parked for credentials."""
    return (
        bead.phase == BeadPhase.DISPATCHED
        and bead.polecat_phase == PolecatPhase.WAITING_FOR_CREDENTIALS
    )


def finished(n: ConvoyCounts) -> int:
    return n.done + n.failed + n.skipped


def percent(n: ConvoyCounts) -> int:
    return finished(n) * 100 // n.total if n.total else 0


def final_phase(beads: Sequence[ConvoyBead], cancelled: bool) -> ConvoyPhase:
    """Cancelled by the user (or the Convoy deleted); every bead Done: Complete; none Done:
    Failed; otherwise PartiallyFailed."""
    if cancelled:
        return ConvoyPhase.CANCELLED
    n = counts(beads)
    if n.total and n.done == n.total:
        return ConvoyPhase.COMPLETE
    return ConvoyPhase.FAILED if n.done == 0 else ConvoyPhase.PARTIALLY_FAILED


def summary(n: ConvoyCounts, cost: float) -> str:
    waiting = f", {n.waiting} waiting for credentials" if n.waiting else ""
    return (
        f"{finished(n)}/{n.total} finished: {n.done} done, {n.failed} failed, "
        f"{n.skipped} skipped, {n.running} running ({n.queued} queued{waiting}), "
        f"{n.pending} pending; cost ${cost:.2f}"
    )


def paused(n: ConvoyCounts) -> tuple[str, str] | None:
    """The pause (reason, message) while polecats wait for credentials: nothing new is
    dispatched (it would only park too); it lifts by itself when they resume."""
    if not n.waiting:
        return None
    return (
        WAITING_FOR_CREDENTIALS,
        f"paused: {n.waiting} polecat(s) wait for fresh Claude credentials; run "
        "`kubectl gt auth sync --force` (or see `kubectl gt auth status`): the convoy resumes "
        "by itself",
    )


def details(
    title: str,
    phase: ConvoyPhase,
    beads: Sequence[ConvoyBead],
    cost: float,
    reason: str | None,
    n: ConvoyCounts | None = None,
) -> str:
    """The Temporal UI's current details: counts (`n`, when the caller has them) and cost,
    then bead → polecat → phase → branch/PR for the first DETAILS_ROWS beads (a list of
    1,000 lines helps nobody)."""
    n = n or counts(beads)
    head = [
        f"**{phase.value}** · {finished(n)}/{n.total} ({percent(n)}%) · {title}",
        f"done {n.done} · running {n.running - n.queued} · queued {n.queued} · "
        f"pending {n.pending} · failed {n.failed} · skipped {n.skipped} · cost ${cost:.2f}",
    ]
    if n.waiting:
        head.append(f"**paused**: {n.waiting} waiting for credentials (`kubectl gt auth status`)")
    if reason:
        head.append(f"reason: {reason}")
    # A list, not a table: the UI draws tables without cell padding, so columns run together.
    rows = []
    for b in beads[:DETAILS_ROWS]:
        state = b.phase.value
        if b.phase == BeadPhase.DISPATCHED and b.polecat_phase:
            state = b.polecat_phase.value
        parts = [f"**{state}**"]
        if b.pull_request_url or b.branch:
            parts.append(b.pull_request_url or f"`{b.branch}`")
        who = f" → `{b.polecat}`" if b.polecat else ""
        rows.append(f"- {_MARK[b.phase]} `{b.bead_id}`{who} · {' · '.join(parts)}")
    if len(beads) > DETAILS_ROWS:
        rows.append(f"\n…and {len(beads) - DETAILS_ROWS} more")
    return "\n\n".join([*head, "\n".join(rows)])
