"""Reading a convoy: the list's columns, `status`'s description (from the CR, or fresher
from the running workflow's `progress` query), and `--wait`'s progress lines — one renderer
for the CR's status and the query's answer, which status_from_progress puts in the same
shape."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from gastown.cli.output import Column, age, field
from gastown.cli.session import Failure, Session

if TYPE_CHECKING:
    from gastown.workflows.messages import ConvoyProgress

FINAL = {"Complete", "PartiallyFailed", "Failed", "Cancelled"}
# A status query that does not answer in this long is not worth the wait: the CR has it too.
QUERY_SECONDS = 5.0


def _counts(status: dict[str, Any], total_default: int) -> dict[str, int]:
    counts = status.get("counts") or {}
    out = {
        key: int(counts.get(key) or 0)
        for key in ("total", "done", "running", "queued", "waiting", "pending", "failed", "skipped")
    }
    if not out["total"]:
        out["total"] = total_default
        if not counts:
            out["pending"] = total_default
    return out


def _progress(obj: dict[str, Any]) -> tuple[int, int]:
    status = obj.get("status") or {}
    counts = _counts(status, len(field(obj, "spec", "trackedBeads", default=[])))
    finished = counts["done"] + counts["failed"] + counts["skipped"]
    return finished, counts["total"]


def _progress_text(obj: dict[str, Any]) -> str:
    finished, total = _progress(obj)
    return f"{finished}/{total}"


def _cost(obj: dict[str, Any]) -> str:
    value = field(obj, "status", "costUSD", default=None)
    return "-" if value is None else f"${float(value):.2f}"


def _count(key: str) -> Any:
    return lambda o: _counts(o.get("status") or {}, 0)[key]


COLUMNS = [
    Column("NAMESPACE", lambda o: o["metadata"].get("namespace", "")),
    Column("NAME", lambda o: o["metadata"]["name"]),
    Column("PROGRESS", _progress_text),
    Column("PHASE", lambda o: field(o, "status", "phase", default="Pending")),
    Column("RIG", lambda o: field(o, "spec", "rigRef")),
    Column("COST", _cost),
    Column("AGE", lambda o: age(o["metadata"].get("creationTimestamp"))),
    Column("RUNNING", _count("running"), wide=True),
    Column("QUEUED", _count("queued"), wide=True),
    Column("FAILED", _count("failed"), wide=True),
    Column("WORKFLOW", lambda o: field(o, "status", "workflowID", default="<none>"), wide=True),
]


def get_convoy(session: Session, name: str) -> dict[str, Any]:
    from gastown.kube import CONVOYS, NotFound, reading

    try:
        return session.client.run_sync(reading.get(CONVOYS, name, session.namespace))
    except NotFound:
        raise Failure(
            f"convoy {name!r} not found in namespace {session.namespace!r} "
            "(see `kubectl gt convoy list -A`)"
        ) from None


def status_from_progress(progress: ConvoyProgress) -> dict[str, Any]:
    """The workflow's answer in the CR status's own shape, so one renderer serves both."""
    counts = progress.counts
    beads = [
        {
            key: value
            for key, value in {
                "beadID": b.bead_id,
                "phase": b.phase.value,
                "polecat": b.polecat,
                "polecatPhase": b.polecat_phase.value if b.polecat_phase else None,
                "attempts": b.attempts,
                "reason": b.reason,
                "branch": b.branch,
                "pullRequestURL": b.pull_request_url,
                "costUSD": b.cost_usd,
            }.items()
            if value is not None
        }
        for b in progress.beads
    ]
    finished = counts.done + counts.failed + counts.skipped
    status: dict[str, Any] = {
        "phase": progress.phase.value,
        "progress": f"{finished}/{counts.total}",
        "counts": counts.model_dump(),
        "costUSD": progress.cost_usd,
        "beads": beads,
    }
    if progress.reason:
        status["reason"] = progress.reason
    if progress.message:
        status["message"] = progress.message
    return status


async def fresher_status(session: Session, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The running workflow's progress as a status, or None on any trouble (no Temporal, no
    workflow, no answer in time): the CR's status is the fallback, never an error."""
    from gastown.operator.workflow import ConvoyWorkflows

    meta = obj["metadata"]
    try:
        async with asyncio.timeout(QUERY_SECONDS):
            temporal = await session.temporal()
            queue = session.temporal_settings.task_queue
            progress = await ConvoyWorkflows(temporal, queue).progress(
                meta["namespace"], meta["name"]
            )
    except Exception:  # TimeoutError included
        return None
    return status_from_progress(progress)


MARKS = {"Done": "✓", "Failed": "✗", "Skipped": "\u2013"}  # ✓ ✗ and an en dash


def _bead_line(bead: dict[str, Any]) -> str:
    phase = str(bead.get("phase") or "Pending")
    mark = MARKS.get(phase, "○")
    cells = [mark, str(bead.get("beadID", ""))]
    cells.append(str(bead.get("polecat") or "-"))
    if phase in ("Pending", "Dispatched"):
        cells.append(str(bead.get("polecatPhase") or phase))
    elif phase == "Failed":
        cells.append("Failed" + (f": {bead['reason']}" if bead.get("reason") else ""))
    elif phase == "Skipped":
        cells.append("Skipped" + (f": {bead['reason']}" if bead.get("reason") else ""))
    where = bead.get("pullRequestURL") or bead.get("branch")
    if where:
        cells.append(str(where))
    return "  " + "  ".join(cells)


def describe(obj: dict[str, Any]) -> str:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    tracked = list(spec.get("trackedBeads") or [])
    counts = _counts(status, len(tracked))
    finished, total = _progress(obj)
    percent = finished * 100 // total if total else 0
    cost = _cost(obj)
    if spec.get("maxCostUSD") is not None:
        cost += f" (cap ${float(spec['maxCostUSD']):.2f})"
    rows = [
        ("Name", obj["metadata"]["name"]),
        ("Namespace", obj["metadata"].get("namespace")),
        ("Description", " ".join(str(spec.get("description", "")).split())),
        ("Rig", spec.get("rigRef")),
        ("Phase", status.get("phase") or "Pending"),
        ("Progress", f"{finished}/{total} ({percent}%)"),
        (
            "Beads",
            f"{counts['done']} done, {counts['running']} running ({counts['queued']} queued"
            + (f", {counts['waiting']} waiting for credentials" if counts["waiting"] else "")
            + "), "
            f"{counts['pending']} pending, {counts['failed']} failed, "
            f"{counts['skipped']} skipped",
        ),
        ("Parallelism", spec.get("parallelism") or "the rig's limit"),
        ("Cost", cost),
        ("Reason", status.get("reason")),
        ("Message", status.get("message")),
        ("Workflow", status.get("workflowID")),
    ]
    lines = [f"{k + ':':<13}{v}" for k, v in rows if v not in (None, "")]
    states = {str(b.get("beadID")): b for b in status.get("beads") or []}
    order = tracked + [b for b in states if b not in set(tracked)]
    lines.append("")
    for bead in order:
        lines.append(_bead_line(states.get(bead) or {"beadID": bead}))
    return "\n".join(lines)


def _line(status: dict[str, Any], total: int) -> str:
    counts = _counts(status, total)
    finished = counts["done"] + counts["failed"] + counts["skipped"]
    phase = status.get("phase") or "Pending"
    text = (
        f"{phase} {finished}/{counts['total']}: {counts['done']} done, "
        f"{counts['running']} running, {counts['failed']} failed"
    )
    if status.get("costUSD") is not None:
        text += f", ${float(status['costUSD']):.2f}"
    return text


def wait_for(session: Session, name: str, uid: str, timeout_seconds: int) -> int:
    """Follow the Convoy CR (a watch, like `kubectl get convoy -w`) until a final phase:
    0 when Complete, 1 otherwise or when the time runs out (the convoy goes on)."""
    from gastown.cli.progress import follow
    from gastown.kube import CONVOYS

    def step(obj: dict[str, Any]) -> tuple[str | None, Callable[[], int] | None]:
        if obj["metadata"].get("uid") != uid:
            return None, None  # another convoy that took the name after ours went
        status = obj.get("status") or {}
        text = _line(status, len(field(obj, "spec", "trackedBeads", default=[])))
        phase = status.get("phase")

        def ended() -> int:
            typer.echo(describe(obj))
            return 0 if phase == "Complete" else 1

        return text, (ended if phase in FINAL else None)

    def late(last: str) -> str:
        return (
            f"convoy {name} not finished after {timeout_seconds}s (last: {last}); "
            f"it goes on: `kubectl gt convoy status {name}`"
        )

    return follow(session, CONVOYS, name, timeout_seconds, step, late)
