"""`kubectl gt convoy create|list|status|add|cancel`: a batch of beads as one workflow.

The Convoy CR is the one way in, as the Polecat is for a sling: `create` makes it with the
user's own credentials (RBAC, the schema and admission apply as to `kubectl apply`), then
starts its workflow with the convoy's identity only; the workflow reads the beads from the
CR. `add` writes the new beads to the CR before telling the workflow, so nobody who may not
edit the Convoy can add to it through Temporal. Malformed input is refused here (exit 2,
nothing created), an unknown rig or an unreachable Temporal too (exit 1, nothing created).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import string
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gastown.cli.output import Column, Format, age, emit, field
from gastown.cli.session import (
    Failure,
    Kubeconfig,
    KubeContext,
    Namespace,
    Output,
    Session,
    TemporalAddress,
    TemporalNamespace,
    Usage,
    api_message,
    command,
)

if TYPE_CHECKING:
    from gastown.api.convoy import Convoy
    from gastown.workflows.messages import ConvoyProgress

app = typer.Typer(help="Batches of beads, each batch one durable workflow (convoys).")

FLAGS = {
    "metadata.name": "--name",
    "metadata": "--name",
    "spec.description": "description",
    "spec.trackedBeads": "bead",
    "spec.rigRef": "--rig",
    "spec.parallelism": "--parallelism",
    "spec.failurePolicy": "--failure-policy",
    "spec.maxRetries": "--max-retries",
    "spec.maxCostUSD": "--max-cost",
    "spec.agent": "--agent",
    "spec.notifyOnComplete": "--notify",
}

POLICIES = {"continue": "Continue", "stop": "Stop", "retry": "Retry"}
FINAL = {"Complete", "PartiallyFailed", "Failed", "Cancelled"}
SLUG_MAX = 40
SUFFIX = string.ascii_lowercase + string.digits
NAME_TRIES = 8
# A status query that does not answer in this long is not worth the wait: the CR has it too.
QUERY_SECONDS = 5.0


def _suffixes() -> Iterator[str]:
    """Five random characters per try; GASTOWN_NAME_SEED makes the sequence repeatable (as
    for polecat names), so two commands with one seed meet and the second must try again."""
    import random

    seed = os.environ.get("GASTOWN_NAME_SEED")
    # A name, not a secret: a seeded generator is what makes it repeatable.
    rng: random.Random = random.Random(seed) if seed else secrets.SystemRandom()  # noqa: S311
    while True:
        yield "".join(rng.choice(SUFFIX) for _ in range(5))


def slug(text: str, limit: int = SLUG_MAX) -> str:
    """A readable name stem from free text: lowercase letters and digits joined by '-'."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "convoy"


def _session(opts: dict[str, Any]) -> Session:
    return Session(
        kubeconfig=opts.get("kubeconfig"),
        context=opts.get("context"),
        namespace_flag=opts.get("namespace"),
        temporal_address=opts.get("temporal_address"),
        temporal_namespace=opts.get("temporal_namespace"),
    )


def _check_beads(beads: list[str]) -> None:
    seen: set[str] = set()
    for bead in beads:
        if bead in seen:
            raise Usage(f"bead: {bead!r} is given twice; a convoy tracks each bead once")
        seen.add(bead)


def _check_notify(value: str | None) -> None:
    """An https URL gets a POST at the end; anything else that looks like a URL would be
    silently ignored there, so it is refused here. Other text is an address (an Event)."""
    if value is None:
        return
    scheme, sep, rest = value.partition("://")
    if not sep:
        return
    if scheme.lower() != "https":
        raise Usage(
            f"--notify: {scheme}:// URLs are not posted to; use an https:// URL (one POST of "
            "a JSON summary) or an address (recorded as an Event)"
        )
    host = rest.split("/", 1)[0].rpartition("@")[2]
    if not host or any(ch.isspace() for ch in value):
        raise Usage("--notify: an https URL needs a host and no spaces or newlines")


def build(
    description: str,
    beads: list[str],
    rig: str,
    *,
    name: str | None = None,
    parallelism: int = 0,
    failure_policy: str | None = None,
    max_retries: int | None = None,
    max_cost: float | None = None,
    agent: str = "claude-code",
    notify: str | None = None,
) -> Convoy:
    """The Convoy the flags describe, validated by the model the CRD is generated from;
    Usage naming the flag when it is not valid."""
    from gastown.api.convoy import Convoy
    from gastown.cli.validation import validated

    _check_beads(beads)
    spec: dict[str, Any] = {
        "description": description,
        "trackedBeads": beads,
        "rigRef": rig,
        "parallelism": parallelism,
        "agent": agent,
    }
    if failure_policy is not None:
        policy = POLICIES.get(failure_policy.lower())
        if policy is None:
            raise Usage(f"--failure-policy must be continue, stop or retry, got {failure_policy!r}")
        spec["failurePolicy"] = policy
    if max_retries is not None:
        if spec.get("failurePolicy") != "Retry":
            raise Usage("--max-retries needs --failure-policy retry")
        spec["maxRetries"] = max_retries
    if max_cost is not None:
        spec["maxCostUSD"] = max_cost
    if notify is not None:
        _check_notify(notify)
        spec["notifyOnComplete"] = notify
    return validated(Convoy, {"metadata": {"name": name or "x"}, "spec": spec}, FLAGS)


# ---------------------------------------------------------------------------- create


@app.command("create")
def create(
    description: Annotated[str, typer.Argument(help="What the batch is for (free text).")],
    beads: Annotated[list[str], typer.Argument(help="Bead IDs, e.g. dm-0001 dm-0002.")],
    rig: Annotated[str, typer.Option("--rig", help="Rig the beads are worked in.")],
    parallelism: Annotated[
        int,
        typer.Option("--parallelism", help="Polecats at work at once (0: the rig's limit)."),
    ] = 0,
    failure_policy: Annotated[
        str | None,
        typer.Option("--failure-policy", help="continue (default), stop, or retry."),
    ] = None,
    max_retries: Annotated[
        int | None, typer.Option("--max-retries", help="Retries per bead (with retry).")
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="Dispatch nothing new once agents cost this (USD)."),
    ] = None,
    agent: Annotated[
        str,
        typer.Option(
            "--agent", help="claude-code, or command (the rig's agentConfig.command runs)."
        ),
    ] = "claude-code",
    notify: Annotated[
        str | None,
        typer.Option("--notify", help="At the end: an Event, and a POST to an https URL."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Convoy name (default: from the description).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until it ends.")] = False,
    timeout: Annotated[str, typer.Option("--timeout", help="Limit for --wait.")] = "24h",
    output: Annotated[
        Format | None, typer.Option("-o", "--output", help="json or yaml: print the convoy.")
    ] = None,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
) -> None:
    """Create a convoy: one workflow dispatches a polecat per bead, a few at a time."""
    raise typer.Exit(_create_command(**locals()))


@command
def _create_command(**opts: Any) -> int:
    from gastown.cli.sling import _duration

    if opts["output"] not in (None, Format.JSON, Format.YAML):
        raise Usage("-o for convoy create must be json or yaml")
    limit = _duration(opts["timeout"], "--timeout")
    convoy = build(
        opts["description"],
        list(opts["beads"]),
        opts["rig"],
        name=opts["name"],
        parallelism=opts["parallelism"],
        failure_policy=opts["failure_policy"],
        max_retries=opts["max_retries"],
        max_cost=opts["max_cost"],
        agent=opts["agent"],
        notify=opts["notify"],
    )
    session = _session(opts)
    stem = None if opts["name"] else slug(opts["description"])
    return asyncio.run(
        launch(
            session,
            convoy,
            name=opts["name"],
            stem=stem,
            output=opts["output"],
            wait=(limit if opts["wait"] else None),
        )
    )


async def launch(
    session: Session,
    convoy: Convoy,
    *,
    name: str | None,
    stem: str | Callable[[dict[str, Any]], str] | None,
    output: Format | None = None,
    wait: int | None = None,
    headline: str | None = None,
) -> int:
    """Read the rig while Temporal connects, create the Convoy as the user, start its
    workflow (deleting the Convoy again if that fails), print, and follow it with `wait`.

    `stem` names a generated convoy (`<stem>-<5 random>`; a function of the rig when the
    stem comes from it), `name` a chosen one.
    """
    from gastown.cli.rig import get_rig

    rig_name = str(convoy.spec.rig_ref)
    temporal, rig = await asyncio.gather(
        session.temporal(), asyncio.to_thread(get_rig, session, rig_name)
    )
    if callable(stem):
        stem = stem(rig)
    ns = session.namespace
    created = await asyncio.to_thread(_create, session, ns, convoy, name, stem)
    await _start(session, temporal, created, convoy)
    cname = str(created["metadata"]["name"])
    spec = convoy.spec
    if output:
        emit([created], output, [], "convoy", single=True)
    else:
        if headline:
            typer.echo(headline)
        window = f"parallelism {spec.parallelism}" if spec.parallelism else "parallelism: "
        window += "" if spec.parallelism else "the rig's maxPolecats"
        typer.echo(
            f"Convoy {cname} created: {len(spec.tracked_beads)} beads to rig {rig_name} ({window})"
        )
        typer.echo(f"  follow it: kubectl gt convoy status {cname}")
    if wait is not None:
        return await asyncio.to_thread(
            wait_for, session, cname, str(created["metadata"]["uid"]), wait
        )
    return 0


def _create(
    session: Session, ns: str, convoy: Convoy, name: str | None, stem: str | None
) -> dict[str, Any]:
    """One create; a generated name is tried again with a new suffix when it is taken (the
    API server's AlreadyExists says so: no listing)."""
    from gastown.api import identity as ids
    from gastown.kube import CONVOYS, Conflict, writing

    body = convoy.to_k8s()
    body["metadata"] = {
        "namespace": ns,
        "labels": {ids.LABEL_RIG: str(convoy.spec.rig_ref)},
    }
    body.pop("status", None)
    if name is not None:
        body["metadata"]["name"] = name
        try:
            return session.client.run_sync(writing.create(CONVOYS, body, ns))
        except Conflict:
            raise Failure(
                f"convoy {name!r} already exists in namespace {ns!r}: choose another --name, "
                f"or see `kubectl gt convoy status {name}`"
            ) from None
    for _, suffix in zip(range(NAME_TRIES), _suffixes(), strict=False):
        body["metadata"]["name"] = f"{stem or 'convoy'}-{suffix}"
        try:
            return session.client.run_sync(writing.create(CONVOYS, body, ns))
        except Conflict:
            continue
    raise Failure(f"no free convoy name after {NAME_TRIES} tries; pass --name")


async def _start(session: Session, temporal: Any, created: dict[str, Any], convoy: Convoy) -> str:
    from gastown.operator.workflow import ConvoyWorkflows, convoy_summary

    meta = created["metadata"]
    spec = convoy.spec
    summary, details = convoy_summary(
        spec.description, str(spec.rig_ref), len(spec.tracked_beads), spec.parallelism
    )
    stamp = datetime.fromisoformat(str(meta["creationTimestamp"]).replace("Z", "+00:00"))
    try:
        return await ConvoyWorkflows(temporal, session.temporal_settings.task_queue).start(
            meta["namespace"], meta["name"], meta["uid"], stamp, summary=summary, details=details
        )
    except Exception as exc:
        # Nothing half-made stays behind: the Convoy goes again, by UID, so never another
        # that took its name meanwhile.
        from gastown.kube import CONVOYS, writing

        op = writing.delete(CONVOYS, meta["name"], meta["namespace"], uid=meta["uid"])
        await session.client.run(op)
        raise Failure(f"could not start the convoy's workflow: {api_message(exc)}") from exc


# ---------------------------------------------------------------------------- reading


def _counts(status: dict[str, Any], total_default: int) -> dict[str, int]:
    counts = status.get("counts") or {}
    out = {
        key: int(counts.get(key) or 0)
        for key in ("total", "done", "running", "queued", "pending", "failed", "skipped")
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


@app.command("list")
@command
def list_(
    all_namespaces: Annotated[
        bool, typer.Option("-A", "--all-namespaces", help="Across all namespaces.")
    ] = False,
    output: Output = Format.TABLE,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
) -> None:
    """List convoys: NAME, PROGRESS, PHASE, RIG, COST, AGE (-o wide: running, queued, …).

    Only the Convoys are read; the Temporal flags are accepted so that one set of flags
    works for every convoy command."""
    del temporal_address, temporal_namespace
    from gastown.kube import CONVOYS, reading

    session = Session(kubeconfig=kubeconfig, context=context, namespace_flag=namespace)
    where = None if all_namespaces else session.namespace
    items = session.client.run_sync(reading.items(CONVOYS, where))
    items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    emit(items, output, COLUMNS if all_namespaces else COLUMNS[1:], "convoy")


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
            f"{counts['done']} done, {counts['running']} running ({counts['queued']} queued), "
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


@app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="Convoy name.")],
    output: Output = Format.TABLE,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
) -> None:
    """Show a convoy: x/y, %, counts, cost, then one line per bead (✓ done, ○ pending, ✗ failed)."""
    _status_command(**locals())


@command
def _status_command(**opts: Any) -> None:
    session = _session(opts)
    obj = get_convoy(session, opts["name"])
    if field(obj, "status", "phase", default="Pending") not in FINAL:
        fresh = asyncio.run(fresher_status(session, obj))
        if fresh is not None:
            obj = {**obj, "status": {**(obj.get("status") or {}), **fresh}}
    if opts["output"] not in (Format.TABLE, Format.WIDE):
        emit([obj], opts["output"], COLUMNS, "convoy", single=True)
        return
    typer.echo(describe(obj))


# ---------------------------------------------------------------------------- add, cancel


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Convoy name.")],
    beads: Annotated[list[str], typer.Argument(help="Bead IDs to add.")],
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
) -> None:
    """Add beads to a running convoy: written to its spec, then the workflow is told."""
    _add_command(**locals())


@command
def _add_command(**opts: Any) -> None:
    beads = list(opts["beads"])
    build("x", beads, "x")  # bead IDs and duplicates: usage errors before any call
    session = _session(opts)
    asyncio.run(_add(session, opts["name"], beads))


async def _add(session: Session, name: str, beads: list[str]) -> None:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from gastown.operator.workflow import ConvoyWorkflows

    temporal, obj = await asyncio.gather(
        session.temporal(), asyncio.to_thread(get_convoy, session, name)
    )
    phase = field(obj, "status", "phase", default="Pending")
    if phase in FINAL:
        raise Failure(
            f"convoy {name!r} is {phase}: it takes no more beads; start another with "
            "`kubectl gt convoy create`"
        )
    flows = ConvoyWorkflows(temporal, session.temporal_settings.task_queue)
    ns = session.namespace
    if not await flows.running(ns, name):
        raise Failure(
            f"convoy {name!r} has no running workflow to add beads to; nothing was written"
        )
    new = await asyncio.to_thread(_write_beads, session, obj, beads)
    try:
        progress = await flows.add(ns, name, beads)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause or exc
        raise Failure(f"convoy {name!r} refused the beads: {cause}") from None
    except RPCError as exc:
        raise Failure(
            f"the beads are in convoy {name!r}'s spec, but telling its workflow failed ({exc}); "
            "run the same `kubectl gt convoy add` again"
        ) from None
    already = len(beads) - len(new)
    note = f" ({already} already tracked)" if already else ""
    total = progress.counts.total
    typer.echo(f"Convoy {name}: {len(new)} beads added{note}; {total} beads in all")


def _write_beads(session: Session, obj: dict[str, Any], beads: list[str]) -> list[str]:
    """Merge `beads` into spec.trackedBeads, guarded by resourceVersion (a concurrent writer
    makes the PUT fail with Conflict: read again and merge again). The beads that were new."""
    from gastown.api.convoy import ConvoySpec
    from gastown.cli.validation import validated
    from gastown.kube import CONVOYS, Conflict, reading, writing

    meta = obj["metadata"]
    for _ in range(5):
        tracked = list(field(obj, "spec", "trackedBeads", default=[]))
        new = [b for b in beads if b not in set(tracked)]
        if not new:
            return []
        spec = {**obj["spec"], "trackedBeads": tracked + new}
        validated(ConvoySpec, spec, {"trackedBeads": "bead"})  # e.g. over 1000 beads
        body = {**obj, "spec": spec}
        body.pop("status", None)
        try:
            session.client.run_sync(writing.replace(CONVOYS, body, meta["namespace"]))
        except Conflict:
            obj = session.client.run_sync(reading.get(CONVOYS, meta["name"], meta["namespace"]))
            if obj["metadata"]["uid"] != meta["uid"]:
                raise Failure(f"convoy {meta['name']!r} was replaced meanwhile") from None
            continue
        return new
    raise Failure(f"convoy {meta['name']!r} keeps changing; try again")


@app.command("cancel")
def cancel(
    name: Annotated[str, typer.Argument(help="Convoy name.")],
    nuke: Annotated[bool, typer.Option("--nuke", help="Also nuke the polecats at work.")] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Recorded in the status.")
    ] = "cancelled by user",
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
) -> None:
    """Stop dispatching; running polecats finish (or, with --nuke, are nuked)."""
    _cancel_command(**locals())


@command
def _cancel_command(**opts: Any) -> None:
    session = _session(opts)
    asyncio.run(_cancel(session, opts["name"], opts["nuke"], opts["reason"]))


async def _cancel(session: Session, name: str, nuke: bool, reason: str) -> None:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from gastown.operator.workflow import ConvoyWorkflows

    temporal, obj = await asyncio.gather(
        session.temporal(), asyncio.to_thread(get_convoy, session, name)
    )
    phase = field(obj, "status", "phase", default="Pending")
    if phase in FINAL:
        raise Failure(f"convoy {name!r} already ended {phase}; nothing to cancel")
    flows = ConvoyWorkflows(temporal, session.temporal_settings.task_queue)
    try:
        progress = await flows.cancel(session.namespace, name, nuke=nuke, reason=reason)
    except WorkflowUpdateFailedError as exc:
        raise Failure(f"convoy {name!r} refused to cancel: {exc.cause or exc}") from None
    except RPCError as exc:
        raise Failure(f"convoy {name!r} has no running workflow to cancel ({exc})") from None
    c = progress.counts
    running = (
        f"{c.running} running polecats nuked"
        if nuke
        else f"{c.running} running polecats left to finish"
    )
    typer.echo(
        f"Convoy {name} cancelled: nothing new is dispatched; {running}; "
        f"{c.done} done, {c.failed} failed, {c.skipped + c.pending} not dispatched"
    )


# ---------------------------------------------------------------------------- --wait


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
    from gastown.cli.progress import _reporter
    from gastown.kube import CONVOYS
    from gastown.kube.watching import request, watch

    deadline = time.monotonic() + timeout_seconds
    last = ""
    with _reporter() as report:
        while time.monotonic() < deadline:
            remaining = max(1, int(deadline - time.monotonic()))
            for _, obj in watch(
                session.client,
                request(
                    CONVOYS,
                    session.namespace,
                    field_selector=f"metadata.name={name}",
                    timeout_seconds=min(remaining, 30),
                ),
            ):
                if obj["metadata"].get("uid") != uid:
                    continue  # another convoy that took the name after ours went
                status = obj.get("status") or {}
                text = _line(status, len(field(obj, "spec", "trackedBeads", default=[])))
                if text != last:
                    report(text)
                    last = text
                phase = status.get("phase")
                if phase in FINAL:
                    typer.echo(describe(obj))
                    return 0 if phase == "Complete" else 1
    typer.echo(
        f"error: convoy {name} not finished after {timeout_seconds}s (last: "
        f"{last or 'no status yet'}); it goes on: `kubectl gt convoy status {name}`",
        err=True,
    )
    return 1
