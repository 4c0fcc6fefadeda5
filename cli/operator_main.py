"""`gastown-operator`: the in-cluster processes (the Temporal worker and the light watcher)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gastown.cli.session import (
    CodecKeyFile,
    Kubeconfig,
    KubeContext,
    TemporalAddress,
    TemporalNamespace,
    say_error,
)
from gastown.cli.usage import MaskingGroup
from gastown.workflows.resolve import OperatorDefaults

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any

    from gastown.config import KubeSettings, TemporalSettings
    from gastown.service.connection import ServiceOptions

# What both processes take besides the cluster and Temporal's address (the Helm chart sets
# them; docs/architecture.md, gastown/service).
HealthPort = Annotated[
    int | None,
    typer.Option(
        "--health-port",
        envvar="GASTOWN_HEALTH_PORT",
        min=1,
        max=65535,
        help="Serve /healthz (the event loop answers) and /readyz on this port. Default: off.",
    ),
]
MetricsBindAddress = Annotated[
    str | None,
    typer.Option(
        "--metrics-bind-address",
        envvar="GASTOWN_METRICS_BIND_ADDRESS",
        help="Serve the Temporal SDK's Prometheus metrics at host:port/metrics "
        "(e.g. 0.0.0.0:9090). Default: off.",
    ),
]
TemporalTLSCert = Annotated[
    str | None,
    typer.Option(
        "--temporal-tls-cert",
        envvar="TEMPORAL_TLS_CLIENT_CERT_PATH",
        help="Client certificate (PEM file) for mTLS to Temporal; needs --temporal-tls-key.",
    ),
]
TemporalTLSKey = Annotated[
    str | None,
    typer.Option(
        "--temporal-tls-key",
        envvar="TEMPORAL_TLS_CLIENT_KEY_PATH",
        help="The client certificate's private key (PEM file).",
    ),
]
TemporalTLSCA = Annotated[
    str | None,
    typer.Option(
        "--temporal-tls-ca",
        envvar="TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        help="CA certificate (PEM file) that signed the Temporal server's certificate. "
        "Default: the system's CAs.",
    ),
]
TemporalAPIKeyFile = Annotated[
    str | None,
    typer.Option(
        "--temporal-api-key-file",
        envvar="TEMPORAL_API_KEY_FILE",
        help="File holding the Temporal API key (Temporal Cloud); turns TLS on. "
        "TEMPORAL_API_KEY gives the key itself.",
    ),
]

app = typer.Typer(
    name="gastown-operator",
    help="Run the gastown worker (workflows and activities) or the watcher.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=MaskingGroup,
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
    tls: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None),
    codec_key_file: str | None = None,
) -> tuple[TemporalSettings, KubeSettings]:
    """Logging and the connection settings both processes share; bad settings exit 2.
    `tls`: the TLS certificate, key and CA files and the API key file."""
    from gastown.config import ConfigError, resolve_kube, resolve_temporal
    from gastown.telemetry import logs

    try:
        logs.setup(log_level)  # JSON unless stderr is a terminal (gastown/telemetry/logs.py)
    except ValueError as exc:
        say_error(f"--log-level (GASTOWN_LOG_LEVEL): {exc}")
        raise typer.Exit(2) from None
    cert, key, ca, api_key_file = tls
    try:
        return (
            resolve_temporal(
                address=temporal_address,
                namespace=temporal_namespace,
                task_queue=task_queue,
                tls_cert=cert,
                tls_key=key,
                tls_ca=ca,
                api_key_file=api_key_file,
                codec_key_file=codec_key_file,
            ),
            resolve_kube(kubeconfig=kubeconfig, context=context),
        )
    except ConfigError as exc:
        say_error(f"{exc}")
        raise typer.Exit(2) from None


def _service(health_port: int | None, metrics_bind_address: str | None) -> ServiceOptions:
    from gastown.config import ConfigError
    from gastown.service.connection import ServiceOptions
    from gastown.service.telemetry import check_bind_address

    try:
        if metrics_bind_address is not None:
            check_bind_address(metrics_bind_address)
    except ConfigError as exc:
        say_error(f"{exc}")
        raise typer.Exit(2) from None
    return ServiceOptions(health_port=health_port, metrics_bind_address=metrics_bind_address)


def _run(main: Coroutine[Any, Any, int | None]) -> NoReturn:
    """Run a process to its end and exit with its code; what it could not reach is one line
    and exit 1.

    The exit skips the interpreter's teardown (os._exit, after flushing): the Temporal SDK's
    native threads can outlive the event loop and abort a finalizing interpreter
    ("PyGILState_Release: thread state … must be current", temporalio/sdk-python#300), which
    turned a clean exit code into SIGABRT. Everything of ours is closed by then.
    """
    import asyncio
    import logging
    import os
    import sys

    from gastown.config import ConfigError
    from gastown.service.connection import TemporalUnreachable
    from gastown.service.health import HealthUnavailable
    from gastown.service.telemetry import MetricsUnavailable

    try:
        code = asyncio.run(main) or 0
    except ConfigError as exc:  # e.g. a kubeconfig without the context it names
        say_error(f"{exc}")
        code = 2
    except (TemporalUnreachable, MetricsUnavailable, HealthUnavailable) as exc:
        say_error(f"{exc}")
        code = 1
    except Exception as exc:  # anything else (a Temporal RPC error at start, a fatal worker
        # error): one line, exit 1, and still past the teardown; the stack at DEBUG level.
        logging.getLogger("gastown").debug("stopped by", exc_info=True)
        say_error(f"{type(exc).__name__}: {exc} (--log-level DEBUG shows where)")
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def worker(
    task_queue: Annotated[
        str | None, typer.Option("--task-queue", envvar="GASTOWN_TASK_QUEUE")
    ] = None,
    image: Annotated[
        str,
        typer.Option(
            "--image",
            envvar="GASTOWN_POLECAT_IMAGE",
            help="The runtime image: git-init and publish always run it; the agent runs it "
            "unless the Polecat or its Rig names another.",
        ),
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
    pod_service_account: Annotated[
        str | None,
        typer.Option(
            "--pod-service-account",
            envvar="GASTOWN_POD_SERVICE_ACCOUNT",
            help="ServiceAccount of polecat pods (its token is never mounted). "
            "Default: the namespace's default.",
        ),
    ] = None,
    register_search_attributes: Annotated[
        bool,
        typer.Option(
            "--register-search-attributes",
            help="At start, add the search attributes the workflows use (GastownRig, …) to "
            "the namespace if missing; a refusal (Temporal Cloud) is logged and tolerated.",
        ),
    ] = False,
    health_port: HealthPort = None,
    metrics_bind_address: MetricsBindAddress = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
    temporal_tls_cert: TemporalTLSCert = None,
    temporal_tls_key: TemporalTLSKey = None,
    temporal_tls_ca: TemporalTLSCA = None,
    temporal_api_key_file: TemporalAPIKeyFile = None,
    codec_key_file: CodecKeyFile = None,
    log_level: Annotated[str, typer.Option("--log-level", envvar="GASTOWN_LOG_LEVEL")] = "INFO",
) -> None:
    """Run the Temporal worker: PolecatWorkflow, ConvoyWorkflow, RigSlotsWorkflow,
    CredentialsWorkflow and their activities."""
    import re

    from gastown.activities import oauth
    from gastown.api.patterns import DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MAX
    from gastown.service.worker import WorkerOptions, run_worker

    if pod_service_account is not None and not (
        re.match(DNS1123_SUBDOMAIN, pod_service_account)
        and len(pod_service_account) <= DNS1123_SUBDOMAIN_MAX
    ):
        say_error(
            f"--pod-service-account (GASTOWN_POD_SERVICE_ACCOUNT): "
            f"{pod_service_account!r} is not a ServiceAccount name (lower case letters, digits, "
            "'-' and '.')"
        )
        raise typer.Exit(2)

    try:
        oauth_config = oauth.OAuthConfig(
            token_url=oauth_token_url or oauth.DEFAULT_TOKEN_URL,
            client_id=oauth_client_id or oauth.DEFAULT_CLIENT_ID,
        )
    except oauth.OAuthConfigError as exc:
        say_error(f"{exc}")
        raise typer.Exit(2) from None

    tls = (temporal_tls_cert, temporal_tls_key, temporal_tls_ca, temporal_api_key_file)
    temporal, kube = _settings(
        log_level,
        task_queue,
        temporal_address,
        temporal_namespace,
        kubeconfig,
        context,
        tls,
        codec_key_file,
    )
    service = _service(health_port, metrics_bind_address)
    defaults = OperatorDefaults(
        image=image,
        pending_timeout_seconds=pending_timeout,
        image_pull_grace_seconds=image_pull_grace,
        credentials_wait_seconds=credentials_wait,
        namespaces=tuple(
            sorted({n.strip() for v in serve_namespaces or [] for n in v.split(",") if n.strip()})
        ),
        pod_service_account=pod_service_account,
    )
    options = WorkerOptions(
        max_concurrent_activities=max_concurrent_activities,
        oauth=oauth_config,
        register_search_attributes=register_search_attributes,
    )
    _run(run_worker(temporal, kube, defaults, options, service))


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
    watch_namespaces: Annotated[
        list[str] | None,
        typer.Option(
            "--serve-namespace",
            envvar="GASTOWN_SERVE_NAMESPACES",
            help="Watch polecats, convoys, their pods and credentials Secrets only in this "
            "namespace (repeat for more; default: all), as the worker's --serve-namespace.",
        ),
    ] = None,
    rig_resync_seconds: Annotated[float, typer.Option("--rig-resync-seconds", min=0.1)] = 30.0,
    health_port: HealthPort = None,
    metrics_bind_address: MetricsBindAddress = None,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    temporal_address: TemporalAddress = None,
    temporal_namespace: TemporalNamespace = None,
    temporal_tls_cert: TemporalTLSCert = None,
    temporal_tls_key: TemporalTLSKey = None,
    temporal_tls_ca: TemporalTLSCA = None,
    temporal_api_key_file: TemporalAPIKeyFile = None,
    codec_key_file: CodecKeyFile = None,
    log_level: Annotated[str, typer.Option("--log-level", envvar="GASTOWN_LOG_LEVEL")] = "INFO",
) -> None:
    """Run the light watcher: adopt kubectl-applied polecats, mirror pod state, finalize
    deletions, keep Rig status (one active replica, by Lease)."""
    from gastown.operator.app import WatcherOptions
    from gastown.service.watcher import ElectionOptions, run_watcher

    tls = (temporal_tls_cert, temporal_tls_key, temporal_tls_ca, temporal_api_key_file)
    temporal, kube = _settings(
        log_level,
        task_queue,
        temporal_address,
        temporal_namespace,
        kubeconfig,
        context,
        tls,
        codec_key_file,
    )
    service = _service(health_port, metrics_bind_address)
    election = ElectionOptions(
        enabled=leader_election,
        namespace=lease_namespace,
        name=lease_name,
        lease_seconds=lease_seconds,
        renew_seconds=min(renew_seconds, lease_seconds / 2),
        retry_seconds=min(2.0, lease_seconds / 4),
        **({"identity": identity} if identity else {}),
    )
    options = WatcherOptions(
        rig_resync_seconds=rig_resync_seconds,
        namespaces=tuple(
            sorted({n.strip() for v in watch_namespaces or [] for n in v.split(",") if n.strip()})
        ),
    )
    _run(run_watcher(temporal, kube, options, election, service=service))


def _usage(text: str) -> NoReturn:
    say_error(f"{text}")
    raise typer.Exit(2)


def _origin(value: str) -> str:
    """`scheme://host[:port]`, exactly as a browser sends it in `Origin`."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        _usage(
            f"--ui-origin (GASTOWN_CODEC_UI_ORIGIN): {value!r} is not an origin; give the "
            "Temporal UI's scheme, host and port, e.g. https://temporal-ui.example.com or "
            "http://localhost:8233"
        )
    return f"{parts.scheme}://{parts.netloc}"


@app.command("codec-server")
def codec_server(
    codec_key_file: CodecKeyFile = None,
    bind_address: Annotated[
        str,
        typer.Option(
            "--bind-address",
            envvar="GASTOWN_CODEC_SERVER_BIND_ADDRESS",
            help="host:port to serve on (0.0.0.0:8081 for all interfaces).",
        ),
    ] = "127.0.0.1:8081",
    ui_origins: Annotated[
        list[str] | None,
        typer.Option(
            "--ui-origin",
            envvar="GASTOWN_CODEC_UI_ORIGIN",
            help="The Temporal UI's origin (e.g. https://temporal-ui.example.com), allowed "
            "by CORS; repeat for more. Default: none (only non-browser clients).",
        ),
    ] = None,
    namespaces: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            envvar="GASTOWN_CODEC_NAMESPACES",
            help="Serve only requests whose X-Namespace is this Temporal namespace (repeat "
            "for more). Default: any.",
        ),
    ] = None,
    auth_token_file: Annotated[
        str | None,
        typer.Option(
            "--auth-token-file",
            envvar="GASTOWN_CODEC_AUTH_TOKEN_FILE",
            help="File holding a token every request must send as "
            "`Authorization: Bearer <token>`. Default: no check (keep the server private).",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int,
        typer.Option(
            "--max-body-bytes",
            envvar="GASTOWN_CODEC_SERVER_MAX_BODY_BYTES",
            help="Largest request body accepted (413 above it).",
        ),
    ] = 4 * 1024 * 1024,
    max_payloads: Annotated[
        int,
        typer.Option(
            "--max-payloads",
            envvar="GASTOWN_CODEC_SERVER_MAX_PAYLOADS",
            help="Most payloads in one request (413 above it).",
        ),
    ] = 1000,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            envvar="GASTOWN_CODEC_SERVER_MAX_CONNECTIONS",
            help="Connections served at once; more get 503 at once.",
        ),
    ] = 32,
    max_header_bytes: Annotated[
        int,
        typer.Option(
            "--max-header-bytes",
            envvar="GASTOWN_CODEC_SERVER_MAX_HEADER_BYTES",
            help="Largest request line and headers together (431 above it).",
        ),
    ] = 16 * 1024,
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            envvar="GASTOWN_CODEC_SERVER_REQUEST_TIMEOUT",
            help="Seconds a connection (one request) may take in all, slow clients included.",
        ),
    ] = 30.0,
    log_level: Annotated[str, typer.Option("--log-level", envvar="GASTOWN_LOG_LEVEL")] = "INFO",
) -> None:
    """Serve Temporal's remote codec protocol (POST /encode, /decode) with the payload
    codec's keys, so authorised Temporal UI users read encrypted payloads (docs/codec.md)."""
    import logging
    import signal
    import threading
    from pathlib import Path

    from gastown.config import CodecConfigError, codec_from_file
    from gastown.service.codecserver import CodecServerOptions, describe, make_server
    from gastown.telemetry import logs

    try:
        logs.setup(log_level)
    except ValueError as exc:
        _usage(f"--log-level (GASTOWN_LOG_LEVEL): {exc}")
    if not codec_key_file:
        _usage(
            "--codec-key-file (GASTOWN_CODEC_KEY_FILE) is required: the key file the worker "
            "uses (docs/codec.md)"
        )
    try:
        codec = codec_from_file(codec_key_file)
    except CodecConfigError as exc:
        _usage(str(exc))
    host, sep, port = bind_address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        _usage(
            f"--bind-address (GASTOWN_CODEC_SERVER_BIND_ADDRESS): {bind_address!r} is not "
            "host:port, e.g. 0.0.0.0:8081"
        )
    token = None
    if auth_token_file:
        try:
            token = Path(auth_token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            _usage(
                f"--auth-token-file (GASTOWN_CODEC_AUTH_TOKEN_FILE): cannot read "
                f"{auth_token_file}: {reason}"
            )
        if not token or any(c.isspace() for c in token):
            _usage(
                f"--auth-token-file (GASTOWN_CODEC_AUTH_TOKEN_FILE): {auth_token_file} must "
                "hold one token (no spaces)"
            )
    origins = frozenset(
        _origin(o.strip()) for v in ui_origins or [] for o in v.split(",") if o.strip()
    )
    served = frozenset(n.strip() for v in namespaces or [] for n in v.split(",") if n.strip())
    for flag, var, value, low in (
        ("--max-body-bytes", "MAX_BODY_BYTES", max_body_bytes, 1024),
        ("--max-payloads", "MAX_PAYLOADS", max_payloads, 1),
        ("--max-connections", "MAX_CONNECTIONS", max_connections, 1),
        ("--max-header-bytes", "MAX_HEADER_BYTES", max_header_bytes, 1024),
    ):
        if value < low:
            _usage(f"{flag} (GASTOWN_CODEC_SERVER_{var}): {value} is below {low}")
    if not 0 < request_timeout <= 3600:
        _usage(
            f"--request-timeout (GASTOWN_CODEC_SERVER_REQUEST_TIMEOUT): {request_timeout} is "
            "not a number of seconds between 0 and 3600"
        )
    options = CodecServerOptions(
        codec=codec,
        ui_origins=origins,
        namespaces=served,
        auth_token=token,
        max_body_bytes=max_body_bytes,
        max_payloads=max_payloads,
        max_connections=max_connections,
        request_timeout=request_timeout,
        max_header_bytes=max_header_bytes,
    )
    try:
        server = make_server(host, int(port), options)
    except OSError as exc:
        say_error(f"cannot serve on {bind_address}: {exc.strerror or exc}")
        raise typer.Exit(1) from None

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log = logging.getLogger("gastown.codecserver")
    bound_host, bound_port = server.server_address[:2]
    log.info("codec server listening on %s:%s %s", bound_host, bound_port, describe(options))
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    log.info("codec server stopped")


def main() -> None:
    app(prog_name="gastown-operator")
