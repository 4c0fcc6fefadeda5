"""Replay recorded histories against today's workflow code.

A change that makes PolecatWorkflow issue different commands for the same history (a new
activity in the middle, a reordered step) would break every workflow running in production
when the worker is upgraded; here it fails the build instead. Refresh the recording only
for an intentional, versioned change:
`GASTOWN_RECORD_HISTORY=1 .venv/bin/pytest tests/e2e/test_sling.py -k history`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from gastown.workflows import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
REPLAY_HISTORY = HISTORIES / "polecat_happy_path.json"


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("recorded", path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


def test_a_recording_exists() -> None:
    assert REPLAY_HISTORY.exists(), "record one: see this module's docstring"
