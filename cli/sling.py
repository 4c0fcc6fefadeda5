"""`kubectl gt sling <bead> <rig>`: hand a bead to a polecat, as a durable workflow.

The Polecat CR is the one way in: sling creates it with the user's own credentials, so RBAC,
the schema, the CEL rules and admission apply exactly as to `kubectl apply`, then starts its
workflow with the polecat's identity. Malformed input is refused here (exit 2, nothing
created: the same models the CRD is generated from), an unknown rig or an unreachable
Temporal too (exit 1, nothing created). The rest — the rig's maxPolecats (over it the polecat
waits as Queued), a bead already being worked, the Secrets — the worker decides, for every
polecat alike; `--wait` follows what it decided.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gastown.cli.output import Format
from gastown.cli.session import Failure, Session, Usage, session_command

FLAGS = {
    "metadata.name": "--name",
    "spec.beadID": "bead",
    "spec.rig": "rig",
    "spec.taskDescription": "--task",
    "spec.kubernetes.gitBranch": "--base-branch",
    "spec.kubernetes.workBranch": "--work-branch",
    "spec.kubernetes.image": "--image",
    "spec.kubernetes.activeDeadlineSeconds": "--deadline",
    "spec.agentConfig.model": "--model",
    "spec.agentConfig.env": "--env",
    "spec.agent": "--agent",
}


def _task_text(task: str | None, task_file: Path | None) -> str | None:
    if task is not None and task_file is not None:
        raise Usage("--task and --task-file are mutually exclusive")
    if task_file is None:
        return task
    try:
        return task_file.read_text() if str(task_file) != "-" else sys.stdin.read()
    except OSError as exc:
        raise Usage(f"--task-file: cannot read {task_file}: {exc.strerror}") from None


def _env_flags(values: list[str]) -> list[dict[str, str]]:
    """`--env NAME=VALUE` items as the spec's env list (the schema checks the names)."""
    env: list[dict[str, str]] = []
    for value in values:
        name, sep, literal = value.partition("=")
        if not name:
            raise Usage("--env must be NAME=VALUE: the name before '=' is missing")
        if not sep:
            raise Usage(f"--env {name!r} must be NAME=VALUE (a literal value after '=')")
        env.append({"name": name, "value": literal})
    return env


def _duration(value: str, flag: str) -> int:
    """Seconds from `90`, `90s`, `15m`, `2h`."""
    units = {"s": 1, "m": 60, "h": 3600}
    raw, unit = (value[:-1], units[value[-1]]) if value and value[-1] in units else (value, 1)
    if not raw.isdigit() or int(raw) <= 0:
        raise Usage(f"{flag} must be a positive duration such as 300, 90s, 15m or 2h")
    return int(raw) * unit


@session_command
def sling(
    session: Session,
    beads: Annotated[
        list[str],
        typer.Argument(help="Bead ID(s), e.g. dm-0001; several make a convoy.", metavar="bead"),
    ],
    rig: Annotated[str, typer.Argument(help="Rig to work in.")],
    name: Annotated[str | None, typer.Option("--name", help="Polecat name (e.g. furiosa).")] = None,
    theme: Annotated[
        str | None, typer.Option("--theme", help="Name pool: mad-max, minerals, wasteland.")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="Task description text.")] = None,
    task_file: Annotated[
        Path | None, typer.Option("--task-file", help="Read the task description from a file.")
    ] = None,
    base_branch: Annotated[str | None, typer.Option("--base-branch")] = None,
    work_branch: Annotated[str | None, typer.Option("--work-branch")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Agent image.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Claude model.")] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            help="NAME=VALUE for the agent's environment (repeatable; added to the rig's). "
            "Names the runtime owns (GT_*, GIT_*, SSH_*, credentials) are refused.",
        ),
    ] = None,
    agent: Annotated[
        str,
        typer.Option(
            "--agent", help="claude-code, or command (the rig's agentConfig.command runs)."
        ),
    ] = "claude-code",
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="Run deadline (e.g. 3600, 45m, 2h).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the polecat finishes.")] = False,
    wait_ready: Annotated[
        bool, typer.Option("--wait-ready", help="Wait until its pod is running.")
    ] = False,
    timeout: Annotated[
        str, typer.Option("--timeout", help="Limit for --wait/--wait-ready.")
    ] = "30m",
    force: Annotated[
        bool, typer.Option("--force", help="Sling even if another polecat works the bead.")
    ] = False,
    output: Annotated[
        Format | None, typer.Option("-o", "--output", help="json or yaml: print the polecat.")
    ] = None,
) -> int:
    """Dispatch a bead to a polecat: a durable workflow creates it and runs its pod.

    Several beads (`sling a b c <rig>`) make a convoy, as Gas Town's batch sling does."""
    opts = {key: value for key, value in locals().items() if key != "session"}
    return _command(session, opts)


# Flags that shape one polecat: a convoy has no field for them (its polecats take the rig's
# defaults), so with several beads they are refused rather than silently dropped.
ONE_POLECAT = {
    "name": "--name",
    "theme": "--theme",
    "task": "--task",
    "task_file": "--task-file",
    "base_branch": "--base-branch",
    "work_branch": "--work-branch",
    "image": "--image",
    "model": "--model",
    "env": "--env",
    "deadline": "--deadline",
    "wait_ready": "--wait-ready",
    "force": "--force",
}


def _command(session: Session, opts: dict[str, Any]) -> int:
    from gastown.api.polecat import Polecat
    from gastown.cli.validation import validated
    from gastown.naming import NamingError, check_name

    if len(opts["beads"]) > 1:
        return _batch(session, opts)
    opts["bead"] = opts["beads"][0]

    if opts["name"] and opts["theme"]:
        raise Usage("--name and --theme are mutually exclusive")
    if opts["output"] not in (None, Format.JSON, Format.YAML):
        raise Usage("-o for sling must be json or yaml")
    text = _task_text(opts["task"], opts["task_file"])
    limit = _duration(opts["timeout"], "--timeout")
    k8s: dict[str, Any] = {}
    for key, flag in (
        ("gitBranch", "base_branch"),
        ("workBranch", "work_branch"),
        ("image", "image"),
    ):
        if opts[flag]:
            k8s[key] = opts[flag]
    if opts["deadline"]:
        k8s["activeDeadlineSeconds"] = _duration(opts["deadline"], "--deadline")
    spec: dict[str, Any] = {
        "rig": opts["rig"],
        "beadID": opts["bead"],
        "desiredState": "Working",
        "executionMode": "kubernetes",
        "agent": opts["agent"],
    }
    if k8s:
        spec["kubernetes"] = k8s
    if text:
        spec["taskDescription"] = text
    agent_config: dict[str, Any] = {}
    if opts["model"]:
        agent_config["model"] = opts["model"]
    if opts["env"]:
        agent_config["env"] = _env_flags(opts["env"])
    if agent_config:
        spec["agentConfig"] = agent_config
    if opts["name"]:
        try:
            check_name(opts["name"])
        except NamingError as exc:
            raise Usage(f"--name: {exc}") from None
    # Validate before touching the cluster: malformed input is a usage error.
    polecat = validated(Polecat, {"metadata": {"name": opts["name"] or "x"}, "spec": spec}, FLAGS)
    if opts["theme"]:
        from gastown.api.rig import NamepoolTheme

        if opts["theme"] not in {t.value for t in NamepoolTheme}:
            raise Usage("--theme must be one of mad-max, minerals, wasteland")

    # One trace per sling (when OTEL_* asks for one): this span is its root, the workflow's
    # start carries it to the worker and the worker to the pod.
    attributes = {"gastown.rig": opts["rig"], "gastown.bead": opts["bead"]}
    with session.tracing.span("kubectl gt sling", **attributes):
        return asyncio.run(_sling(session, opts, polecat.spec.to_k8s(), limit))


async def _sling(session: Session, opts: dict[str, Any], spec: dict[str, Any], limit: int) -> int:
    """Create the Polecat as the user, then start its workflow with the polecat's identity.

    The rig is read while Temporal connects (both answer before anything is created, so an
    unknown rig or an unreachable Temporal leaves nothing behind); then one create. Everything
    else — the rig's limit, a bead already worked, the Secrets — is the worker's to decide,
    the same way for every polecat however it was created; `--wait` shows what it decided.
    """
    from gastown.cli.rig import get_rig

    temporal, rig = await asyncio.gather(
        session.temporal(), asyncio.to_thread(get_rig, session, opts["rig"])
    )
    _check_pins(rig, spec)
    ns = session.namespace
    created, state = await asyncio.to_thread(_create, session, ns, opts, spec, rig)
    name = str(created["metadata"]["name"])
    if state == "active":
        typer.echo(
            f"Polecat {name} is already working on bead {created['spec'].get('beadID')} in rig "
            f"{opts['rig']}; nothing to do"
        )
        return 0
    run_id = await _start(session, temporal, created, rerun=state == "rerun")
    if opts["output"]:
        from gastown.cli.output import emit

        emit([created], opts["output"], [], "polecat", single=True)
    else:
        typer.echo(f"Polecat {name} created for bead {opts['bead']} in rig {opts['rig']}")
        hint = _queue_hint(rig)
        if hint:
            typer.echo(f"  {hint}")
    if opts["wait"] or opts["wait_ready"]:
        from gastown.cli.progress import wait_for

        return await asyncio.to_thread(wait_for, session, name, run_id, not opts["wait"], limit)
    return 0


def _check_pins(rig: dict[str, Any], spec: dict[str, Any]) -> None:
    """The rig's rules against what this sling sets itself, as a usage error before anything
    is created: `--image` against spec.polecatPolicy.allowedImages, and `--env
    ANTHROPIC_BASE_URL` against the rig's model credential (a sling names no credential of its
    own, so the rig's would go to that endpoint). Sling's flags name no Secret (`--env` takes
    literals), so allowedSecrets has nothing to check here. What the polecat inherits is
    checked by the worker, which knows its default image."""
    from pydantic import ValidationError

    from gastown.api.polecat import AgentConfig, own_endpoint
    from gastown.api.rig import PolecatDefaults, PolecatPolicy

    name = rig["metadata"]["name"]
    raw = (rig.get("spec") or {}).get("polecatPolicy")
    image = (spec.get("kubernetes") or {}).get("image")
    try:
        policy = PolecatPolicy.model_validate(raw) if raw else None
        defaults = PolecatDefaults.model_validate(
            ((rig.get("spec") or {}).get("settings") or {}).get("polecatDefaults") or {}
        )
        mine = AgentConfig.model_validate(spec.get("agentConfig") or {})
    except ValidationError:
        return  # the worker refuses it with the whole message
    if policy is not None and image and not policy.image_allowed(image):
        allowed = ", ".join(policy.allowed_images or []) or "none"
        raise Usage(
            f"--image {image} is not allowed by rig {name}'s "
            f"spec.polecatPolicy.allowedImages (allowed: {allowed}; a prefix ends in '/' or "
            "':'): use one of those, or leave --image out for the rig's default"
        )
    overridden = {e.name for e in mine.env or []}
    credentials = defaults.model_credentials()
    env = defaults.env_secrets(overridden=overridden)
    if (credentials or env) and own_endpoint(mine, defaults.agent_config):
        own = [
            "its own spec.kubernetes.apiKeySecretRef" if credentials else "",
            "its own value for those env items" if env else "",
        ]
        raise Usage(
            f"--env ANTHROPIC_BASE_URL sets the polecat's own model endpoint, but its model "
            f"credential is rig {name}'s ({', '.join(credentials + env)}), which goes only to "
            "the rig's own endpoint: leave it out, or have the rig's owner set it in "
            "settings.polecatDefaults.agentConfig.modelProvider.endpoint (a Polecat with "
            f"{' and '.join(o for o in own if o)} may name its own endpoint)"
        )


def _queue_hint(rig: dict[str, Any]) -> str | None:
    """What the rig's status (kept by the watcher) says about free slots: a hint, not the
    decision, which the worker makes when the polecat asks for a slot."""
    settings = (rig.get("spec") or {}).get("settings") or {}
    counts = (rig.get("status") or {}).get("polecats") or {}
    active = int(counts.get("pending") or 0) + int(counts.get("working") or 0)
    limit = int(settings.get("maxPolecats") or 8)
    if active < limit:
        return None
    return (
        f"queued: rig {rig['metadata']['name']} is at its limit of {limit} active polecats; "
        "it starts when a slot frees (--wait follows it)"
    )


def _create(
    session: Session, ns: str, opts: dict[str, Any], spec: dict[str, Any], rig: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The Polecat and what it is: `created`; `rerun`, a finished polecat of the same bead
    named with --name, to run again; or `active`, one that is still at work."""
    from gastown.api import identity as ids
    from gastown.api.group import API_VERSION
    from gastown.kube import POLECATS, Conflict, reading, writing

    metadata: dict[str, Any] = {
        "namespace": ns,
        "labels": {ids.LABEL_RIG: opts["rig"], ids.LABEL_BEAD: opts["bead"]},
    }
    if opts["force"]:
        metadata["annotations"] = {ids.ANNOTATION_ALLOW_SAME_BEAD: "true"}
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Polecat",
        "metadata": metadata,
        "spec": spec,
    }
    if opts["name"]:
        body["metadata"]["name"] = opts["name"]
        try:
            return session.client.run_sync(writing.create(POLECATS, body, ns)), "created"
        except Conflict:
            existing = session.client.run_sync(reading.get(POLECATS, opts["name"], ns))
        return existing, _existing(existing, opts)
    from gastown.naming import allocate

    theme = opts["theme"] or (
        ((rig.get("spec") or {}).get("settings") or {}).get("namepoolTheme") or "mad-max"
    )
    seed = os.environ.get("GASTOWN_NAME_SEED") or f"{time.time_ns()}"
    taken: list[str] = []
    # No listing: names are tried in the pool's seeded order and the API server's
    # AlreadyExists says which are in use. Bounded: the pool overflows to numbered names.
    for _ in range(64):
        body["metadata"]["name"] = allocate(theme, taken, seed=seed)
        try:
            return session.client.run_sync(writing.create(POLECATS, body, ns)), "created"
        except Conflict:
            taken.append(body["metadata"]["name"])
    raise Failure(f"no free polecat name after {len(taken)} tries; pass --name")


def _existing(existing: dict[str, Any], opts: dict[str, Any]) -> str:
    from gastown.api.polecat import PolecatPhase

    name = existing["metadata"]["name"]
    phase = ((existing.get("status") or {}).get("phase")) or "Pending"
    if phase not in {p.value for p in PolecatPhase if p.is_final}:
        return "active"
    spec = existing.get("spec") or {}
    if (spec.get("rig"), spec.get("beadID")) != (opts["rig"], opts["bead"]):
        raise Failure(
            f"polecat {name!r} already exists for bead {spec.get('beadID')} in rig "
            f"{spec.get('rig')} ({phase}): choose another --name, or delete it first "
            f"(kubectl delete polecat {name})"
        )
    return "rerun"


async def _start(session: Session, temporal: Any, polecat: dict[str, Any], rerun: bool) -> str:
    from gastown.cli.starting import start_or_delete
    from gastown.kube import POLECATS
    from gastown.operator.workflow import Workflows

    async def start(meta: dict[str, Any], created: datetime) -> str:
        flows = Workflows(temporal, session.temporal_settings.task_queue)
        return await flows.start(meta["namespace"], meta["name"], meta["uid"], created, rerun=rerun)

    # A rerun's Polecat was there before this sling: it stays whatever the start did.
    return await start_or_delete(
        session, POLECATS, polecat, start, what="polecat", delete=not rerun
    )


def _batch(session: Session, opts: dict[str, Any]) -> int:
    """`sling a b c <rig>`: a convoy named `batch-<rig's bead prefix>-<5 random>`, described
    `Batch: N beads to <rig>` (Gas Town's words), created and started like `convoy create`."""
    from gastown.cli import convoy_create as convoy

    for key, flag in ONE_POLECAT.items():
        if opts[key]:
            raise Usage(
                f"{flag} applies to one polecat; with several beads sling makes a convoy "
                f"(sling one bead to use {flag})"
            )
    if opts["output"] not in (None, Format.JSON, Format.YAML):
        raise Usage("-o for sling must be json or yaml")
    limit = _duration(opts["timeout"], "--timeout")
    beads = list(opts["beads"])
    headline = f"Batch: {len(beads)} beads to {opts['rig']}"
    spec = convoy.build(headline, beads, opts["rig"], agent=opts["agent"])

    def stem(rig: dict[str, Any]) -> str:
        prefix = (rig.get("spec") or {}).get("beadsPrefix") or opts["rig"]
        return f"batch-{convoy.slug(str(prefix), 20)}"

    return asyncio.run(
        convoy.launch(
            session,
            spec,
            name=None,
            stem=stem,
            output=opts["output"],
            wait=limit if opts["wait"] else None,
            headline=headline,
        )
    )
