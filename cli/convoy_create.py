"""Making a convoy: the flags checked and built into a Convoy by the model the CRD comes
from (exit 2, nothing created), then the CR created as the user under a readable unique
name and its workflow started with the convoy's identity only (`convoy create`, and
`sling` with several beads)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import string
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from gastown.cli.output import Format, emit
from gastown.cli.session import Failure, Session, Usage
from gastown.cli.starting import start_or_delete

if TYPE_CHECKING:
    from gastown.api.convoy import Convoy

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
SLUG_MAX = 40
SUFFIX = string.ascii_lowercase + string.digits
NAME_TRIES = 8


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
    stem comes from it), `name` a chosen one. One trace (when OTEL_* asks for one): this
    command's span is the root of the convoy's workflow and of its polecats' pods.
    """
    span = session.tracing.span(
        "kubectl gt convoy create", **{"gastown.rig": str(convoy.spec.rig_ref)}
    )
    with span:
        return await _launch(session, convoy, name, stem, output, wait, headline)


async def _launch(
    session: Session,
    convoy: Convoy,
    name: str | None,
    stem: str | Callable[[dict[str, Any]], str] | None,
    output: Format | None,
    wait: int | None,
    headline: str | None,
) -> int:
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
        from gastown.cli.convoy_view import wait_for

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
    from gastown.kube import CONVOYS
    from gastown.operator.workflow import ConvoyWorkflows, convoy_summary

    spec = convoy.spec
    summary, details = convoy_summary(
        spec.description, str(spec.rig_ref), len(spec.tracked_beads), spec.parallelism
    )

    async def start(meta: dict[str, Any], stamp: datetime) -> str:
        flows = ConvoyWorkflows(temporal, session.temporal_settings.task_queue)
        return await flows.start(
            meta["namespace"], meta["name"], meta["uid"], stamp, summary=summary, details=details
        )

    return await start_or_delete(session, CONVOYS, created, start, what="convoy")
