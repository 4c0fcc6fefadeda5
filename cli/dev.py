"""`kubectl gt dev`: a local sandbox for trying gt without a cluster (development tool)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Local development environment (sandbox cluster, Temporal dev server).",
    no_args_is_help=True,
)
