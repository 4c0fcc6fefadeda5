"""`gastown-operator`: the in-cluster processes (the Temporal worker and the light watcher)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from gastown.cli.session import Kubeconfig, KubeContext, TemporalAddress, TemporalNamespace
from gastown.workflows.resolve import OperatorDefaults

if TYPE_CHECKING:
    from gastown.config import KubeSettings, TemporalSettings

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


def _settings(
    log_level: str,
    task_queue: str | None,
    temporal_address: str | None,
    temporal_namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> tuple[TemporalSettings, KubeSettings]:
    """Logging and the connection settings both processes share; bad settings exit 2."""
    from gastown.config import ConfigError, resolve_kube, resolve_temporal
    from gastown.telemetry import logs

    logs.setup(log_level)  # JSON unless stderr is a terminal (gastown/telemetry/logs.py)
    try:
        return (
            resolve_temporal(
                address=temporal_address, namespace=temporal_namespace, task_queue=task_queue
            ),
            resolve_kube(kubeconfig=kubeconfig, context=context),
        )
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


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
    credentials_wait: Annotated[
        int,
        typer.Option(
            "--credentials-wait",
            min=1,
            envvar="GASTOWN_CREDENTIALS_WAIT_SECONDS",
            help="Seconds a polecat waits for fresh Claude credentials (WaitingForCredentials) "
            "before it gives up Failed, CredentialsUnavailable.",
        ),
    ] = OperatorDefaults.credentials_wait_seconds,
    max_concurrent_activities: Annotated[
        int, typer.Option("--max-concurrent-activities", min=1)
    ] = 200,
    serve_namespaces: Annotated[
        list[str] | None,
        typer.Option(
            "--serve-namespace",
            envvar="GASTOWN_SERVE_NAMESPACES",
            help="Run only polecats in this namespace (repeat for more; default: all). "
            "Polecats elsewhere are refused with the reason in their status.",
        ),
    ] = None,
    oauth_token_url: Annotated[
        str | None,
        typer.Option(
            "--oauth-token-url",
            envvar="GASTOWN_OAUTH_TOKEN_URL",
            help="Where keeper-mode sessions are refreshed (https; http only to loopback). "
            "Default: Claude Code's token endpoint.",
        ),
    ] = None,
    oauth_client_id: Annotated[
        str | None,
        typer.Option(
            "--oauth-client-id",
            envvar="GASTOWN_OAUTH_CLIENT_ID",
            help="The OAuth client id sent with a refresh. Default: Claude Code's public one.",
        ),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
    log_level: Annotated[str, typer.Option("--log-level", envvar="GASTOWN_LOG_LEVEL")] = "INFO",
) -> None:
    """Run the Temporal worker: PolecatWorkflow, ConvoyWorkflow, RigSlotsWorkflow,
    CredentialsWorkflow and their activities."""
    import asyncio

    from gastown.activities import oauth
    from gastown.service.worker import WorkerOptions, run_worker

    try:
        oauth_config = oauth.OAuthConfig(
            token_url=oauth_token_url or oauth.DEFAULT_TOKEN_URL,
            client_id=oauth_client_id or oauth.DEFAULT_CLIENT_ID,
        )
    except oauth.OAuthConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    temporal, kube = _settings(
        log_level, task_queue, temporal_address, temporal_namespace, kubeconfig, context
    )
    defaults = OperatorDefaults(
        image=image,
        pending_timeout_seconds=pending_timeout,
        image_pull_grace_seconds=image_pull_grace,
        credentials_wait_seconds=credentials_wait,
        namespaces=tuple(
            sorted({n.strip() for v in serve_namespaces or [] for n in v.split(",") if n.strip()})
        ),
    )
    asyncio.run(
        run_worker(
            temporal,
            kube,
            defaults,
            WorkerOptions(max_concurrent_activities=max_concurrent_activities, oauth=oauth_config),
        )
    )


@app.command()
def watcher(
    task_queue: Annotated[
        str | None, typer.Option("--task-queue", envvar="GASTOWN_TASK_QUEUE")
    ] = None,
    leader_election: Annotated[
        bool,
        typer.Option(
            "--leader-election/--no-leader-election",
            help="Act only while holding the Lease (run more than one replica safely).",
        ),
    ] = True,
    lease_namespace: Annotated[
        str | None,
        typer.Option("--lease-namespace", envvar="POD_NAMESPACE", help="Default: kube context's."),
    ] = None,
    lease_name: Annotated[str, typer.Option("--lease-name")] = "gastown-watcher",
    lease_seconds: Annotated[float, typer.Option("--lease-seconds", min=1)] = 15.0,
    renew_seconds: Annotated[float, typer.Option("--renew-seconds", min=0.1)] = 5.0,
    identity: Annotated[
        str | None, typer.Option("--identity", envvar="POD_NAME", help="Default: host-pid.")
    ] = None,
    rig_resync_seconds: Annotated[float, typer.Option("--rig-resync-seconds", min=0.1)] = 30.0,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
    log_level: Annotated[str, typer.Option("--log-level", envvar="GASTOWN_LOG_LEVEL")] = "INFO",
) -> None:
    """Run the light watcher: adopt kubectl-applied polecats, mirror pod state, finalize
    deletions, keep Rig status (one active replica, by Lease)."""
    import asyncio

    from gastown.operator.app import WatcherOptions
    from gastown.service.watcher import ElectionOptions, run_watcher

    temporal, kube = _settings(
        log_level, task_queue, temporal_address, temporal_namespace, kubeconfig, context
    )
    election = ElectionOptions(
        enabled=leader_election,
        namespace=lease_namespace,
        name=lease_name,
        lease_seconds=lease_seconds,
        renew_seconds=min(renew_seconds, lease_seconds / 2),
        retry_seconds=min(2.0, lease_seconds / 4),
        **({"identity": identity} if identity else {}),
    )
    options = WatcherOptions(rig_resync_seconds=rig_resync_seconds)
    raise typer.Exit(asyncio.run(run_watcher(temporal, kube, options, election)))


def main() -> None:
    app(prog_name="gastown-operator")
