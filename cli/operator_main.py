"""`gastown-operator`: the in-cluster processes (the Temporal worker and the light watcher)."""

from __future__ import annotations

import typer

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


def main() -> None:
    app(prog_name="gastown-operator")
