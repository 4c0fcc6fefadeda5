"""`kubectl gt dev`: a local environment for trying gt without a cluster (development tool).

`dev up` starts, as daemons under a state directory: the sandbox cluster (an in-memory
Kubernetes API and pod runner, see docs/sandbox.md), the Temporal dev server with its Web
UI (SQLite file, so workflow history survives restarts), our worker and our watcher. Each
daemon has a pid file and a log in the state directory; `dev down` stops them and
`dev status` reports them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Local development environment: sandbox cluster + Temporal dev server "
    "(for development and tests, not production).",
    no_args_is_help=True,
)

DEFAULT_STATE = Path(os.environ.get("GASTOWN_DEV_STATE", ".gastown-dev"))
StateOpt = Annotated[
    Path,
    typer.Option("--state-dir", help="Where pid files, logs, the kubeconfig and temporal.db live."),
]


@dataclass(frozen=True)
class Component:
    """A background process `dev up` manages."""

    name: str
    argv: list[str]
    ready_port: int | None = None
    env: dict[str, str] | None = None
    ready_line: str | None = None  # a line in its log that says it is up


def _pid_file(state: Path, name: str) -> Path:
    return state / f"{name}.pid"


def _log_file(state: Path, name: str) -> Path:
    return state / "logs" / f"{name}.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not running; /proc tells (Linux).
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


def _running_pid(state: Path, name: str) -> int | None:
    try:
        pid = int(_pid_file(state, name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _spawn(state: Path, comp: Component) -> int:
    """Start detached (own session, no tty, output to the log), record the pid."""
    existing = _running_pid(state, comp.name)
    if existing is not None:
        return existing
    log_path = _log_file(state, comp.name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            comp.argv,
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=str(state),
            env={**os.environ, **(comp.env or {})},
        )
    _pid_file(state, comp.name).write_text(f"{proc.pid}\n")
    return proc.pid


def _wait(what: str, check: object, pid: int, timeout: float, log: Path) -> None:
    from collections.abc import Callable

    assert callable(check)
    predicate: Callable[[], bool] = check
    deadline = time.monotonic() + timeout
    while not predicate():
        if not _alive(pid):
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise typer.Exit(_fail(f"{what} exited during start-up; log {log}:\n{tail}"))
        if time.monotonic() > deadline:
            raise typer.Exit(_fail(f"{what} not ready after {timeout:.0f}s; see {log}"))
        time.sleep(0.1)


def _fail(message: str) -> int:
    typer.echo(message, err=True)
    return 1


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _metrics_ports(state: Path) -> dict[str, int]:
    """A free port each for the worker's and the watcher's /metrics; the ones of the last `up`
    while its processes still run (they keep serving there)."""
    from gastown.sandbox.temporal_dev import free_port

    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        saved = json.loads((state / "dev.json").read_text()).get("metricsPorts") or {}
        kept = {n: int(saved[n]) for n in METRICS if n in saved and _running_pid(state, n)}
        if len(kept) == len(METRICS):
            return kept
    return {name: free_port() for name in METRICS}


# The processes that serve Prometheus metrics (the SDK's exporter with our series).
METRICS = ("worker", "watcher")


def _components(
    state: Path,
    cluster: str,
    temporal_port: int,
    ui_port: int,
    ignore_run_as_user: bool,
    containers: bool = False,
    metrics_ports: dict[str, int] | None = None,
) -> list[Component]:
    from gastown.sandbox.temporal_dev import start_dev_argv

    comps = []
    if cluster == "sandbox":
        comps.append(
            Component(
                "sandbox",
                [
                    sys.executable,
                    "-m",
                    "gastown.sandbox",
                    "serve",
                    "--state-dir",
                    str(state / "sandbox"),
                    "--gastown-crds",
                    *(["--ignore-run-as-user"] if ignore_run_as_user else []),
                    *(["--containers"] if containers else []),
                    *(["--bin-dir", str(POD_BIN)] if POD_BIN.is_dir() and not containers else []),
                ],
            )
        )
    comps.append(
        Component(
            "temporal",
            start_dev_argv(temporal_port, ui_port, state / "temporal.db"),
            ready_port=temporal_port,
        )
    )
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "TEMPORAL_NAMESPACE": "default"}
    if cluster == "sandbox":
        env["KUBECONFIG"] = str(state / "sandbox" / "kubeconfig")
    operator = str(Path(sys.executable).with_name("gastown-operator"))
    ports = metrics_ports or {}

    def metrics(name: str) -> list[str]:
        port = ports.get(name)
        return ["--metrics-bind-address", f"127.0.0.1:{port}"] if port else []

    comps.append(
        Component(
            "worker",
            [operator, "worker", *metrics("worker")],
            env=env,
            ready_line="worker polling task queue",
        )
    )
    comps.append(
        # Up once it asks for the Lease: holding it may take a lease period.
        Component(
            "watcher",
            [operator, "watcher", *metrics("watcher")],
            env=env,
            ready_line="waiting for the lease",
        )
    )
    return comps


# Where `make test-tools`/`make demo` put gt-polecat for the pods' non-root user to run.
POD_BIN = Path(__file__).resolve().parents[1] / ".tools" / "pod-venv" / "bin"


def _register_demo() -> None:
    from gastown.cli.demo import demo

    app.command("demo")(demo)


_register_demo()


@app.command()
def up(
    state_dir: StateOpt = DEFAULT_STATE,
    cluster: Annotated[
        str, typer.Option(help="`sandbox` (default) or `current` (the current kube context)")
    ] = "sandbox",
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    ignore_run_as_user: Annotated[
        bool,
        typer.Option(
            "--ignore-run-as-user",
            help="Sandbox pods run as you, ignoring runAsUser (needed when other users cannot "
            "execute this Python, e.g. one under /root)",
        ),
    ] = False,
    containers: Annotated[
        bool,
        typer.Option(
            "--containers",
            help="Sandbox pods run with podman from the real local images (`make images`; "
            "nothing is pulled) instead of as local processes",
        ),
    ] = False,
) -> None:
    """Start the sandbox cluster (or use the current context) and the Temporal dev server."""
    from gastown.cli.devextra import require_sandbox_extra

    require_sandbox_extra()
    if cluster not in ("sandbox", "current"):
        raise typer.BadParameter("--cluster must be `sandbox` or `current`")
    if containers and cluster != "sandbox":
        raise typer.BadParameter(
            "--containers is a mode of the sandbox cluster (--cluster sandbox)"
        )
    state = state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    previous = _settings(state)
    if (
        cluster == "sandbox"
        and _running_pid(state, "sandbox") is not None
        and bool(previous.get("containers")) != containers
    ):
        mode = "container" if previous.get("containers") else "process"
        typer.echo(
            f"error: the running sandbox is in {mode} mode: run `kubectl gt dev down` first",
            err=True,
        )
        raise typer.Exit(2)
    ports = _metrics_ports(state)
    settings = {
        "cluster": cluster,
        "temporalPort": temporal_port,
        "uiPort": ui_port,
        "containers": containers,
        "metricsPorts": ports,
    }
    (state / "dev.json").write_text(json.dumps(settings))
    comps = _components(
        state, cluster, temporal_port, ui_port, ignore_run_as_user, containers, ports
    )
    for comp in comps:
        if comp.name == "sandbox" and _running_pid(state, comp.name) is None:
            # A killed server leaves its ready file behind; only a fresh one means ready.
            (state / "sandbox" / "ready.json").unlink(missing_ok=True)
        pid = _spawn(state, comp)
        log = _log_file(state, comp.name)
        if comp.name == "sandbox":
            ready = state / "sandbox" / "ready.json"
            _wait("sandbox cluster", ready.exists, pid, 30, log)
        elif comp.ready_port is not None:
            port = comp.ready_port
            _wait(comp.name, lambda p=port: _port_open(p), pid, 60, log)
        elif comp.ready_line is not None:
            line = comp.ready_line
            _wait(comp.name, lambda f=log, s=line: s in f.read_text(errors="replace"), pid, 60, log)
    _print_addresses(state, settings)


def _settings(state: Path) -> dict[str, object]:
    try:
        loaded = json.loads((state / "dev.json").read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _print_addresses(state: Path, settings: dict[str, object]) -> None:
    if settings["cluster"] == "sandbox":
        ready = json.loads((state / "sandbox" / "ready.json").read_text())
        typer.echo(f"sandbox cluster: {ready['url']}")
        typer.echo(f"export KUBECONFIG={ready['kubeconfig']}")
    else:
        typer.echo(f"cluster: current kube context ({_current_context()})")
    typer.echo(f"temporal: 127.0.0.1:{settings['temporalPort']}")
    typer.echo(f"temporal ui: http://127.0.0.1:{settings['uiPort']}")
    ports = settings.get("metricsPorts")
    for name in METRICS:
        port = ports.get(name) if isinstance(ports, dict) else None
        if port:
            typer.echo(f"{name} metrics: http://127.0.0.1:{port}/metrics")


def _current_context() -> str:
    try:
        from gastown.config.kube import current_context

        return current_context()
    except Exception as exc:
        return f"unavailable: {exc}"


# Consumers stop before what they consume: the worker must not see the cluster vanish.
STOP_ORDER = ("watcher", "worker", "sandbox", "temporal")


def _names(state: Path) -> list[str]:
    names = sorted(p.stem for p in state.glob("*.pid"))
    return sorted(names, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else -1)


@app.command()
def status(state_dir: StateOpt = DEFAULT_STATE) -> None:
    """Show which dev processes run and where to reach them (exit 1 if any is down)."""
    state = state_dir.resolve()
    names = _names(state)
    if not names:
        typer.echo(f"nothing started under {state}")
        raise typer.Exit(1)
    down = 0
    for name in names:
        pid = _running_pid(state, name)
        typer.echo(
            f"{name}: {'running (pid ' + str(pid) + ')' if pid else 'stopped'}  "
            f"log {_log_file(state, name)}"
        )
        down += pid is None
    settings_file = state / "dev.json"
    if not down and settings_file.exists():
        _print_addresses(state, json.loads(settings_file.read_text()))
    if down:
        raise typer.Exit(1)


@app.command()
def down(
    state_dir: StateOpt = DEFAULT_STATE,
    timeout: Annotated[float, typer.Option(help="seconds to wait before SIGKILL")] = 10.0,
) -> None:
    """Stop every dev process (SIGTERM, then SIGKILL after --timeout)."""
    state = state_dir.resolve()
    for name in _names(state):
        pid = _running_pid(state, name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        _pid_file(state, name).unlink(missing_ok=True)
        typer.echo(f"{name}: stopped")
