"""`kubectl gt`: the kubectl plugin entry point.

Subcommand modules are imported only when their group is used, so `kubectl gt --help`
stays fast at a terminal (see docs/benchmarks.md).
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

import typer

from gastown.cli.usage import MaskingGroup

app = typer.Typer(
    name="kubectl-gt",
    help=(
        "Gas Town: dispatch Claude Code agents as Kubernetes pods, "
        "each a durable Temporal workflow."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=MaskingGroup,
)


def _register() -> None:
    """Attach subcommand groups; each module exposes `app: typer.Typer`."""
    from gastown.cli import auth, convoy, dev, polecat, rig, sling

    app.command("sling")(sling.sling)
    app.add_typer(rig.app, name="rig")
    app.add_typer(polecat.app, name="polecat")
    app.add_typer(convoy.app, name="convoy")
    app.add_typer(auth.app, name="auth")
    app.add_typer(dev.app, name="dev")


@app.command()
def version() -> None:
    """Print the gastown-operator version."""
    from gastown import __version__

    typer.echo(f"kubectl-gt {__version__}")


def main() -> None:
    _register()
    try:
        # kubectl runs us as `kubectl-gt`; users type `kubectl gt`, so usage lines say that.
        app(prog_name="kubectl gt")
    except SystemExit as exc:
        _end(exc.code)
    _end(0)


def _end(code: object) -> NoReturn:
    """Exit with `code`; once Temporal's client was loaded, without interpreter finalization.

    The client's Rust runtime keeps threads that can call into Python while the interpreter
    finalizes, and the process then aborts (SIGABRT, "PyGILState_Release: thread state ...
    must be current when releasing", temporalio/sdk-python#300) after the command has done and
    said everything: `auth refresh` exited -6 about one run in five. So after the exit
    handlers (they remove temporary kubeconfig files) and a flush, os._exit."""
    if "temporalio.client" not in sys.modules:
        raise SystemExit(code)
    if code is None or isinstance(code, int):
        status = code or 0
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
