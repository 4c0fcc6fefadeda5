"""`kubectl gt polecat list|status|logs|nuke`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from gastown.cli.output import Column, Format, age, emit, field
from gastown.cli.session import (
    CodecKeyFile,
    Failure,
    Kubeconfig,
    KubeContext,
    Namespace,
    Output,
    Session,
    TemporalAddress,
    TemporalNamespace,
    Usage,
    command,
    split_ref,
)

app = typer.Typer(help="Inspect and control polecats (worker agents).")

FINAL_PHASES = {"Done", "Failed", "Stuck", "Terminated"}

COLUMNS = [
    Column("NAMESPACE", lambda o: o["metadata"].get("namespace", "")),
    Column("NAME", lambda o: o["metadata"]["name"]),
    Column("RIG", lambda o: field(o, "spec", "rig")),
    Column("PHASE", lambda o: field(o, "status", "phase", default="Pending")),
    Column("BEAD", lambda o: field(o, "spec", "beadID")),
    Column("POD", lambda o: field(o, "status", "podName", default="<none>"), wide=True),
    Column("BRANCH", lambda o: field(o, "status", "branch", default="<none>"), wide=True),
    Column("WORKFLOW", lambda o: field(o, "status", "workflowID", default="<none>"), wide=True),
    Column("AGE", lambda o: age(o["metadata"].get("creationTimestamp")), wide=True),
]


def is_active(polecat: dict[str, Any]) -> bool:
    return field(polecat, "status", "phase", default="Pending") not in FINAL_PHASES


def list_polecats(
    session: Session, namespace: str | None, rig: str | None = None, bead: str | None = None
) -> list[dict[str, Any]]:
    from gastown.api import identity as ids
    from gastown.kube import POLECATS, reading

    selector = ",".join(
        f"{key}={value}" for key, value in ((ids.LABEL_RIG, rig), (ids.LABEL_BEAD, bead)) if value
    )
    items = session.client.run_sync(reading.items(POLECATS, namespace, label_selector=selector))
    # Polecats applied with kubectl before the watcher labelled them: match on spec too.
    if (rig or bead) and not items:
        items = [
            o
            for o in session.client.run_sync(reading.items(POLECATS, namespace))
            if (rig is None or field(o, "spec", "rig") == rig)
            and (bead is None or field(o, "spec", "beadID") == bead)
        ]
    return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def get_polecat(session: Session, ref: str) -> dict[str, Any]:
    from gastown.kube import POLECATS, NotFound, reading

    rig, name = split_ref(ref)
    try:
        obj = session.client.run_sync(reading.get(POLECATS, name, session.namespace))
    except NotFound:
        raise Failure(
            f"polecat {name!r} not found in namespace {session.namespace!r} "
            "(see `kubectl gt polecat list -A`)"
        ) from None
    if rig and field(obj, "spec", "rig") != rig:
        raise Failure(f"polecat {name!r} belongs to rig {field(obj, 'spec', 'rig')!r}, not {rig!r}")
    return obj


@app.command("list")
@command
def list_(
    rig: Annotated[str | None, typer.Argument(help="Only this rig's polecats.")] = None,
    all_namespaces: Annotated[
        bool, typer.Option("-A", "--all-namespaces", help="Across all namespaces.")
    ] = False,
    output: Output = Format.TABLE,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
) -> None:
    """List polecats: NAME, RIG, PHASE, BEAD (-o wide adds pod, branch, workflow, age)."""
    session = Session(kubeconfig=kubeconfig, context=context, namespace_flag=namespace)
    items = list_polecats(session, None if all_namespaces else session.namespace, rig=rig)
    columns = COLUMNS if all_namespaces else COLUMNS[1:]
    emit(items, output, columns, "polecat")


@app.command("status")
@command
def status(
    ref: Annotated[str, typer.Argument(help="<rig>/<name> or <name>.")],
    output: Output = Format.TABLE,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
) -> None:
    """Show one polecat: phase, outcome, pod, branch, commit, PR, conditions."""
    session = Session(kubeconfig=kubeconfig, context=context, namespace_flag=namespace)
    obj = get_polecat(session, ref)
    if output not in (Format.TABLE, Format.WIDE):
        emit([obj], output, COLUMNS, "polecat", single=True)
        return
    typer.echo(describe(obj))


def _containers(st: dict[str, Any]) -> str | None:
    """`git-init: terminated (Completed), claude: running, publish: waiting (PodInitializing)`:
    the agent runs in an init container, so the pod phase alone does not say who is at work."""
    parts = []
    for c in field(st, "pod", "containers", default=None) or []:
        reason = f" ({c['reason']})" if c.get("reason") else ""
        parts.append(f"{c.get('name')}: {c.get('state') or 'unknown'}{reason}")
    return ", ".join(parts) or None


def describe(obj: dict[str, Any]) -> str:
    from gastown.api.identity import ANNOTATION_TRACE_ID

    st = obj.get("status") or {}
    spec = obj.get("spec") or {}
    rows = [
        ("Name", obj["metadata"]["name"]),
        ("Namespace", obj["metadata"].get("namespace")),
        ("Rig", spec.get("rig")),
        ("Bead", spec.get("beadID")),
        ("Desired state", spec.get("desiredState")),
        ("Phase", st.get("phase", "Pending")),
        ("Outcome", st.get("outcome")),
        ("Message", st.get("message")),
        ("Attempt", st.get("attempt")),
        ("Pod", st.get("podName")),
        ("Pod phase", field(st, "pod", "phase") or None),
        ("Containers", _containers(st)),
        ("Branch", st.get("branch")),
        ("Commit", st.get("commit")),
        ("Pull request", st.get("pullRequestURL")),
        ("Workflow", st.get("workflowID")),
        ("Trace", (obj["metadata"].get("annotations") or {}).get(ANNOTATION_TRACE_ID)),
        ("Started", st.get("startedAt")),
        ("Finished", st.get("finishedAt")),
    ]
    lines = [f"{k + ':':<15}{v}" for k, v in rows if v not in (None, "")]
    conditions = st.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        for cond in conditions:
            lines.append(
                f"  {cond.get('type')}={cond.get('status')} {cond.get('reason')}: "
                f"{cond.get('message', '')}"
            )
    return "\n".join(lines)


@app.command("logs")
@command
def logs(
    ref: Annotated[str, typer.Argument(help="<rig>/<name> or <name>.")],
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Stream new lines.")] = False,
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.")] = None,
    container: Annotated[
        str,
        typer.Option(
            "-c",
            "--container",
            help="claude (the agent), git-init (the clone) or publish (commit, push, PR).",
        ),
    ] = "claude",
    attempt: Annotated[
        int | None, typer.Option("--attempt", help="An earlier attempt's pod (default: latest).")
    ] = None,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
) -> None:
    """Print the logs of the polecat's pod."""
    from gastown.api import identity as ids
    from gastown.kube import NotFound, reading

    if container not in ("claude", "git-init", "publish"):
        raise Usage(f"-c/--container must be claude, git-init or publish, got {container!r}")
    if tail is not None and tail < 0:
        raise Usage("--tail must be 0 or more")
    session = Session(kubeconfig=kubeconfig, context=context, namespace_flag=namespace)
    obj = get_polecat(session, ref)
    name = obj["metadata"]["name"]
    n = attempt or field(obj, "status", "attempt", default=None)
    if not n:
        raise Failure(f"polecat {name!r} has no pod yet (phase {field(obj, 'status', 'phase')})")
    pod = ids.pod_name(name, int(n))
    logs = reading.pod_logs(
        session.namespace, pod, container=container, tail_lines=tail, follow=follow
    )
    try:
        answer = session.client.run_sync(logs)
    except NotFound:
        raise Failure(
            f"pod {pod!r} is gone (succeeded pods are deleted after ttlSecondsAfterFinished)"
        ) from None
    if not follow:
        typer.echo(answer, nl=False)
        return
    for chunk in answer.stream(4096):
        typer.echo(chunk.decode(errors="replace"), nl=False)


@app.command("nuke")
@command
def nuke(
    ref: Annotated[str, typer.Argument(help="<rig>/<name> or <name>.")],
    reason: Annotated[str, typer.Option("--reason", help="Recorded in the status.")] = "nuked",
    force: Annotated[
        bool,
        typer.Option("--force", help="Also delete its pods when no workflow answers."),
    ] = False,
    namespace: Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
    codec_key_file: CodecKeyFile = None,
) -> None:
    """Terminate a polecat: its workflow deletes the pod and ends as Terminated."""
    session = Session(
        kubeconfig=kubeconfig,
        context=context,
        namespace_flag=namespace,
        temporal_address=temporal_address,
        temporal_namespace=temporal_namespace,
        codec_key_file=codec_key_file,
    )
    obj = get_polecat(session, ref)
    name = obj["metadata"]["name"]
    phase = asyncio.run(_nuke(session, name, reason, force))
    typer.echo(f"Polecat {name} {phase.lower()}")


async def _nuke(session: Session, name: str, reason: str, force: bool) -> str:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from gastown.api.identity import polecat_workflow_id
    from gastown.workflows.messages import NukeRequest, PolecatState

    temporal = await session.temporal()
    handle = temporal.get_workflow_handle(polecat_workflow_id(session.namespace, name))
    try:
        state = await _execute_update(handle, NukeRequest(reason=reason), PolecatState)
    except (WorkflowUpdateFailedError, RPCError) as exc:
        if not force:
            raise Failure(
                f"polecat {name!r} has no running workflow to nuke ({exc}); "
                "pass --force to delete its pods anyway"
            ) from None
        _delete_pods(session, name)
        return "Terminated"
    return str(state.phase.value)


async def _execute_update(handle: Any, request: Any, result_type: type[Any]) -> Any:
    """execute_update, retried while the server reports a racing workflow task.

    An update rides on a workflow task; when a signal lands in the same instant, the server
    rejects that task (UnhandledCommand) and answers the update with "unexpected workflow task
    failure" although the workflow is fine and the next task succeeds. That answer, and only
    it, is worth another try.
    """
    from temporalio.service import RPCError

    from gastown.workflows import contract as c

    for attempt in range(5):
        try:
            return await handle.execute_update(c.UPDATE_NUKE, request, result_type=result_type)
        except RPCError as exc:
            if "workflow task failure" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _delete_pods(session: Session, name: str) -> None:
    from gastown.api import identity as ids
    from gastown.kube import PODS, writing

    session.client.run_sync(
        writing.delete_collection(PODS, session.namespace, f"{ids.LABEL_POLECAT}={name}")
    )
