"""`gastown-operator`: the in-cluster processes (the Temporal worker and the light watcher)."""

from __future__ import annotations

from typing import Annotated

import typer

from gastown.cli.session import Kubeconfig, KubeContext, TemporalAddress, TemporalNamespace
from gastown.workflows.resolve import OperatorDefaults

app = typer.Typer(
    name="gastown-operator",
    help="Run the gastown worker (workflows and activities) or the watcher.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Keep subcommands explicit even while there is only one."""


@app.command()
def version() -> None:
    """Print the gastown-operator version."""
    from gastown import __version__

    typer.echo(f"gastown-operator {__version__}")


@app.command()
def worker(
    task_queue: Annotated[
        str | None, typer.Option("--task-queue", envvar="GASTOWN_TASK_QUEUE")
    ] = None,
    image: Annotated[
        str, typer.Option("--image", envvar="GASTOWN_POLECAT_IMAGE", help="Default agent image.")
    ] = OperatorDefaults.image,
    pending_timeout: Annotated[
        int, typer.Option("--pending-timeout", min=1)
    ] = OperatorDefaults.pending_timeout_seconds,
    image_pull_grace: Annotated[
        int, typer.Option("--image-pull-grace", min=0)
    ] = OperatorDefaults.image_pull_grace_seconds,
    max_concurrent_activities: Annotated[
        int, typer.Option("--max-concurrent-activities", min=1)
    ] = 200,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    """Run the Temporal worker: PolecatWorkflow, its activities and the pod reaper."""
    import asyncio
    import logging

    from gastown.config import ConfigError, resolve_kube, resolve_temporal
    from gastown.service.worker import WorkerOptions, run_worker

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        temporal = resolve_temporal(
            address=temporal_address, namespace=temporal_namespace, task_queue=task_queue
        )
        kube = resolve_kube(kubeconfig=kubeconfig, context=context)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    defaults = OperatorDefaults(
        image=image,
        pending_timeout_seconds=pending_timeout,
        image_pull_grace_seconds=image_pull_grace,
    )
    asyncio.run(
        run_worker(
            temporal,
            kube,
            defaults,
            WorkerOptions(max_concurrent_activities=max_concurrent_activities),
        )
    )


def main() -> None:
    app(prog_name="gastown-operator")
