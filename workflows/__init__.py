"""Temporal workflows: pure orchestration, no I/O (import-linter enforces it)."""

from __future__ import annotations

from gastown.workflows.polecat import PolecatWorkflow
from gastown.workflows.reaper import PodReaperWorkflow
from gastown.workflows.rigslots import RigSlotsWorkflow

WORKFLOWS = [PolecatWorkflow, PodReaperWorkflow, RigSlotsWorkflow]

__all__ = ["WORKFLOWS", "PodReaperWorkflow", "PolecatWorkflow", "RigSlotsWorkflow"]
