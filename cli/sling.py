"""`kubectl gt sling <bead> <rig>`: hand a bead to a polecat, as a durable workflow.

Everything that can be checked before dispatch is checked here, so bad input creates
nothing: names and values (the same models the CRD is generated from), the rig, its
maxPolecats limit, a bead already being worked, the Secrets and the token's expiry.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gastown.cli.output import Format
from gastown.cli.session import (
    Failure,
    Kubeconfig,
    KubeContext,
    Namespace,
    Session,
    TemporalAddress,
    TemporalNamespace,
    Usage,
    api_message,
    command,
)

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


def _duration(value: str, flag: str) -> int:
    """Seconds from `90`, `90s`, `15m`, `2h`."""
    units = {"s": 1, "m": 60, "h": 3600}
    raw, unit = (value[:-1], units[value[-1]]) if value and value[-1] in units else (value, 1)
    if not raw.isdigit() or int(raw) <= 0:
        raise Usage(f"{flag} must be a positive duration such as 300, 90s, 15m or 2h")
    return int(raw) * unit


def sling(
    bead: Annotated[str, typer.Argument(help="Bead ID, e.g. dm-0001.")],
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
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
) -> None:
    """Dispatch a bead to a polecat: a durable workflow creates it and runs its pod."""
    with_wait = _command(**locals())
    raise typer.Exit(with_wait)


@command
def _command(**opts: Any) -> int:
    from gastown.api.polecat import Polecat
    from gastown.api.rig import Rig
    from gastown.cli.validation import validated
    from gastown.naming import NamingError, allocate, check_name

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
    if opts["model"]:
        spec["agentConfig"] = {"model": opts["model"]}
    if opts["name"]:
        try:
            check_name(opts["name"])
        except NamingError as exc:
            raise Usage(f"--name: {exc}") from None
    # Validate before touching the cluster: malformed input is a usage error.
    validated(Polecat, {"metadata": {"name": opts["name"] or "x"}, "spec": spec}, FLAGS)
    if opts["theme"]:
        from gastown.api.rig import NamepoolTheme

        if opts["theme"] not in {t.value for t in NamepoolTheme}:
            raise Usage("--theme must be one of mad-max, minerals, wasteland")

    session = Session(
        kubeconfig=opts["kubeconfig"],
        context=opts["context"],
        namespace_flag=opts["namespace"],
        temporal_address=opts["temporal_address"],
        temporal_namespace=opts["temporal_namespace"],
    )
    from gastown.cli.polecat import is_active, list_polecats
    from gastown.cli.rig import get_rig

    rig = Rig.model_validate(get_rig(session, opts["rig"]))
    ns = session.namespace
    mine = list_polecats(session, ns, rig=opts["rig"])
    if opts["name"] and any(p["metadata"]["name"] == opts["name"] for p in mine):
        existing = next(p for p in mine if p["metadata"]["name"] == opts["name"])
        if is_active(existing):
            typer.echo(
                f"Polecat {opts['name']} is already working on bead "
                f"{existing['spec'].get('beadID')} in rig {opts['rig']}; nothing to do"
            )
            return 0
    active = [p for p in list_polecats(session, None, rig=opts["rig"]) if is_active(p)]
    if len(active) >= rig.spec.settings.max_polecats:
        raise Failure(
            f"rig {opts['rig']!r} is at its limit of {rig.spec.settings.max_polecats} active "
            "polecats; wait for one to finish, nuke one, or raise spec.settings.maxPolecats"
        )
    working = [p for p in active if p["spec"].get("beadID") == opts["bead"]]
    if working and not opts["force"]:
        other = working[0]["metadata"]["name"]
        raise Failure(
            f"bead {opts['bead']} is already being worked on by polecat {other}; "
            "pass --force to sling it again"
        )
    if opts["name"]:
        name = opts["name"]
    else:
        seed = os.environ.get("GASTOWN_NAME_SEED") or f"{time.time_ns()}"
        taken = [p["metadata"]["name"] for p in list_polecats(session, ns)]
        name = allocate(opts["theme"] or rig.spec.settings.namepool_theme, taken, seed=seed)
    polecat = validated(Polecat, {"metadata": {"name": name, "namespace": ns}, "spec": spec}, FLAGS)
    _precheck_credentials(session, ns, name, polecat, rig)
    run_id = asyncio.run(_start(session, ns, name, polecat))
    if opts["output"]:
        from gastown.cli.output import emit

        emit([polecat.to_k8s()], opts["output"], [], "polecat", single=True)
    else:
        typer.echo(f"Polecat {name} created for bead {opts['bead']} in rig {opts['rig']}")
    if opts["wait"] or opts["wait_ready"]:
        from gastown.cli.progress import wait_for

        return wait_for(session, name, run_id, until_ready=not opts["wait"], timeout_seconds=limit)
    return 0


def _precheck_credentials(session: Session, ns: str, name: str, polecat: Any, rig: Any) -> None:
    """Run the workflow's own resolution and credential check before anything exists."""
    from temporalio.exceptions import ApplicationError

    from gastown.activities.credentials import CredentialActivities
    from gastown.activities.kube import Kube
    from gastown.workflows.resolve import OperatorDefaults, SpecError, resolve

    try:
        resolved = resolve(ns, name, polecat.spec, rig, OperatorDefaults())
    except SpecError as exc:
        raise Failure(str(exc)) from None
    try:
        asyncio.run(CredentialActivities(Kube(session.api)).check_credentials(resolved))
    except ApplicationError as exc:
        raise Failure(exc.message) from None


async def _start(session: Session, ns: str, name: str, polecat: Any) -> str:
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

    from gastown.api.identity import polecat_workflow_id
    from gastown.workflows.messages import PolecatInput
    from gastown.workflows.polecat import PolecatWorkflow

    temporal = await session.temporal()
    settings = session.temporal_settings
    try:
        handle = await temporal.start_workflow(
            PolecatWorkflow.run,
            PolecatInput(namespace=ns, name=name, spec=polecat.spec.to_k8s()),
            id=polecat_workflow_id(ns, name),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except Exception as exc:
        raise Failure(f"could not start the polecat's workflow: {api_message(exc)}") from exc
    return str(handle.result_run_id or handle.run_id)
