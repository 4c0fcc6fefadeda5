"""Temporal workflows: pure orchestration, no I/O (import-linter enforces it)."""

from __future__ import annotations

from gastown.workflows.polecat import PolecatWorkflow
from gastown.workflows.reaper import PodReaperWorkflow

WORKFLOWS = [PolecatWorkflow, PodReaperWorkflow]

__all__ = ["WORKFLOWS", "PodReaperWorkflow", "PolecatWorkflow"]
