"""Replay recorded histories against today's workflow code.

A change that makes PolecatWorkflow (or ConvoyWorkflow) issue different commands for the same
history (a new activity in the middle, a reordered step) would break every workflow running in
production when the worker is upgraded; here it fails the build instead. Refresh the recordings only
for an intentional, versioned change:

- polecat_happy_path.json comes from a real pod (sandbox cluster, Temporal dev server):
  `GASTOWN_RECORD_HISTORY=1 .venv/bin/pytest tests/e2e/test_sling.py -k history`.
- one history per branch (done; retried then done; nuked while waiting; nuked in the back-off;
  failed before start; auth expired; queued then started; parked for credentials then
  resumed, nuked while parked, gave up waiting, refreshed by the keeper; a convoy completed; a
  convoy's run that continued as new; the credentials workflow woken in replica mode, fifty
  waiters answered by one refresh, a refresh rejected, the refresh Update) comes from the
  time-skipping tests in tests/workflows:
  `GASTOWN_RECORD_HISTORY=1 .venv/bin/pytest tests/workflows -q`.
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
# One per branch of PolecatWorkflow; a missing file would quietly shrink what is replayed.
BRANCHES = (
    "polecat_happy_path",
    "polecat_done",
    "polecat_retried_then_done",
    "polecat_nuked_while_waiting",
    "polecat_nuked_in_backoff",
    "polecat_failed_before_start",
    "polecat_auth_expired",
    "polecat_queued_then_started",
    "polecat_parked_then_resumed",
    "polecat_nuked_while_parked",
    "polecat_gave_up_waiting_for_credentials",
    "polecat_refreshed_by_the_keeper",
    # Recorded before the credentials gate (workflow.patched): never re-record.
    "polecat_auth_expired_before_gate",
    "convoy_complete",
    "convoy_continued_as_new",
    "credentials_replica_woken",
    "credentials_fifty_waiters_one_refresh",
    "credentials_refresh_rejected",
    "credentials_refresh_update",
)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("recorded", path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


def test_every_branch_has_a_recording() -> None:
    missing = [name for name in BRANCHES if not (HISTORIES / f"{name}.json").exists()]
    assert not missing, f"record {missing}: see this module's docstring"
