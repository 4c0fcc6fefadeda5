"""The gastown.gastown.io/v1alpha1 API: pydantic models, the single source of the CRDs."""

from gastown.api.convoy import Convoy, ConvoyPhase, ConvoySpec, ConvoyStatus
from gastown.api.crd import API_VERSION, GROUP, VERSION
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
