"""The gastown.gastown.io/v1alpha1 API: pydantic models, the single source of the CRDs.

The models are loaded on first use of a name here: building their schemas is most of what an
import of this package costs, and a command that only needs the group's name or one model
should not pay for all of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gastown.api.convoy import Convoy, ConvoyPhase, ConvoySpec, ConvoyStatus
    from gastown.api.group import API_VERSION, GROUP, VERSION
    from gastown.api.polecat import (
        AgentType,
        DesiredState,
        Outcome,
        Polecat,
        PolecatPhase,
        PolecatSpec,
        PolecatStatus,
    )
    from gastown.api.rig import NamepoolTheme, Rig, RigPhase, RigSpec, RigStatus

_HOMES = {
    "gastown.api.convoy": ("Convoy", "ConvoyPhase", "ConvoySpec", "ConvoyStatus"),
    "gastown.api.group": ("API_VERSION", "GROUP", "VERSION"),
    "gastown.api.polecat": (
        "AgentType",
        "DesiredState",
        "Outcome",
        "Polecat",
        "PolecatPhase",
        "PolecatSpec",
        "PolecatStatus",
    ),
    "gastown.api.rig": ("NamepoolTheme", "Rig", "RigPhase", "RigSpec", "RigStatus"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "AgentType",
    "Convoy",
    "ConvoyPhase",
    "ConvoySpec",
    "ConvoyStatus",
    "DesiredState",
    "NamepoolTheme",
    "Outcome",
    "Polecat",
    "PolecatPhase",
    "PolecatSpec",
    "PolecatStatus",
    "Rig",
    "RigPhase",
    "RigSpec",
    "RigStatus",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'gastown.api' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
