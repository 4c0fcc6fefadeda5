"""Temporal workflows: pure orchestration, no I/O (import-linter enforces it).

The workflow classes load on first use of a name here: a client that only starts or signals
a workflow by its type name (the CLI) needs `contract` and `messages`, not the workflows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown.workflows.convoy import ConvoyWorkflow
    from gastown.workflows.credentials import CredentialsWorkflow
    from gastown.workflows.polecat import PolecatWorkflow
    from gastown.workflows.rigslots import RigSlotsWorkflow

    WORKFLOWS: list[type[Any]]

__all__ = [
    "WORKFLOWS",
    "ConvoyWorkflow",
    "CredentialsWorkflow",
    "PolecatWorkflow",
    "RigSlotsWorkflow",
]


def __getattr__(name: str) -> Any:
    # Only our names: `from gastown.workflows import contract` asks here first for a
    # submodule not loaded yet, and must fall through to the import system.
    if name not in __all__:
        raise AttributeError(f"module 'gastown.workflows' has no attribute {name!r}")
    from gastown.workflows.convoy import ConvoyWorkflow
    from gastown.workflows.credentials import CredentialsWorkflow
    from gastown.workflows.polecat import PolecatWorkflow
    from gastown.workflows.rigslots import RigSlotsWorkflow

    found = {
        "WORKFLOWS": [ConvoyWorkflow, CredentialsWorkflow, PolecatWorkflow, RigSlotsWorkflow],
        "ConvoyWorkflow": ConvoyWorkflow,
        "CredentialsWorkflow": CredentialsWorkflow,
        "PolecatWorkflow": PolecatWorkflow,
        "RigSlotsWorkflow": RigSlotsWorkflow,
    }
    return found[name]
