"""`kubectl gt convoy create|list|status|add|cancel`: a batch of beads as one workflow.

The Convoy CR is the one way in, as the Polecat is for a sling: `create` makes it with the
user's own credentials (RBAC, the schema and admission apply as to `kubectl apply`), then
starts its workflow with the convoy's identity only; the workflow reads the beads from the
CR. `add` writes the new beads to the CR before telling the workflow, so nobody who may not
edit the Convoy can add to it through Temporal. Malformed input is refused here (exit 2,
nothing created), an unknown rig or an unreachable Temporal too (exit 1, nothing created).

This module holds the commands' flags only; the work is in convoy_create (making one),
convoy_view (reading one, `--wait`) and convoy_change (add, cancel), imported when a
command runs so that `kubectl gt --help` stays fast.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from gastown.cli.output import Format
from gastown.cli.session import Output, Session, Usage, session_command

app = typer.Typer(help="Batches of beads, each batch one durable workflow (convoys).")

Name = Annotated[str, typer.Argument(help="Convoy name.")]


@app.command("create")
@session_command
def create(
    session: Session,
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
) -> int:
    """Create a convoy: one workflow dispatches a polecat per bead, a few at a time."""
    from gastown.cli.convoy_create import build, launch, slug
    from gastown.cli.sling import _duration

    if output not in (None, Format.JSON, Format.YAML):
        raise Usage("-o for convoy create must be json or yaml")
    limit = _duration(timeout, "--timeout")
    convoy = build(
        description,
        list(beads),
        rig,
        name=name,
        parallelism=parallelism,
        failure_policy=failure_policy,
        max_retries=max_retries,
        max_cost=max_cost,
        agent=agent,
        notify=notify,
    )
    stem = None if name else slug(description)
    return asyncio.run(
        launch(session, convoy, name=name, stem=stem, output=output, wait=(limit if wait else None))
    )


@app.command("list")
@session_command
def list_(
    session: Session,
    all_namespaces: Annotated[
        bool, typer.Option("-A", "--all-namespaces", help="Across all namespaces.")
    ] = False,
    output: Output = Format.TABLE,
) -> None:
    """List convoys: NAME, PROGRESS, PHASE, RIG, COST, AGE (-o wide: running, queued, …).

    Only the Convoys are read; the Temporal flags are accepted so that one set of flags
    works for every convoy command."""
    from gastown.cli.convoy_view import COLUMNS
    from gastown.cli.output import emit
    from gastown.kube import CONVOYS, reading

    where = None if all_namespaces else session.namespace
    items = session.client.run_sync(reading.items(CONVOYS, where))
    items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    emit(items, output, COLUMNS if all_namespaces else COLUMNS[1:], "convoy")


@app.command("status")
@session_command
def status(session: Session, name: Name, output: Output = Format.TABLE) -> None:
    """Show a convoy: x/y, %, counts, cost, then one line per bead (✓ done, ○ pending, ✗ failed)."""
    from gastown.cli.convoy_view import COLUMNS, FINAL, describe, fresher_status, get_convoy
    from gastown.cli.output import emit, field

    obj = get_convoy(session, name)
    if field(obj, "status", "phase", default="Pending") not in FINAL:
        fresh = asyncio.run(fresher_status(session, obj))
        if fresh is not None:
            obj = {**obj, "status": {**(obj.get("status") or {}), **fresh}}
    if output not in (Format.TABLE, Format.WIDE):
        emit([obj], output, COLUMNS, "convoy", single=True)
        return
    typer.echo(describe(obj))


@app.command("add")
@session_command
def add(
    session: Session,
    name: Name,
    beads: Annotated[list[str], typer.Argument(help="Bead IDs to add.")],
) -> None:
    """Add beads to a running convoy: written to its spec, then the workflow is told."""
    from gastown.cli.convoy_change import add_beads
    from gastown.cli.convoy_create import build

    beads = list(beads)
    build("x", beads, "x")  # bead IDs and duplicates: usage errors before any call
    asyncio.run(add_beads(session, name, beads))


@app.command("cancel")
@session_command
def cancel(
    session: Session,
    name: Name,
    nuke: Annotated[bool, typer.Option("--nuke", help="Also nuke the polecats at work.")] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Recorded in the status.")
    ] = "cancelled by user",
) -> None:
    """Stop dispatching; running polecats finish (or, with --nuke, are nuked)."""
    from gastown.cli.convoy_change import cancel_convoy

    asyncio.run(cancel_convoy(session, name, nuke, reason))
