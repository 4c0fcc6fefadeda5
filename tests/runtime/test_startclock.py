"""The agent's share of its budget after git-init's start (gastown/runtime/startclock.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gastown.runtime import startclock


def test_the_time_since_git_init_started_comes_off_the_budget() -> None:
    budget = startclock.agent_budget(600, started=1000.0, now=1100.0)
    assert (budget.seconds, budget.elapsed, budget.ignored) == (500, 100, None)


def test_a_budget_already_spent_still_starts_the_agent_for_a_moment() -> None:
    budget = startclock.agent_budget(600, started=1000.0, now=1000.0 + 900)
    assert budget.seconds == startclock.MIN_SECONDS
    assert budget.elapsed == 900


@pytest.mark.parametrize(
    ("started", "why"),
    [(1000.5, "it is in the future"), (1000.0 - 1201, "it is older than the pod's deadline")],
)
def test_a_start_the_pod_cannot_have_had_is_ignored(started: float, why: str) -> None:
    budget = startclock.agent_budget(600, started=started, now=1000.0)
    assert budget.seconds == 600 and budget.elapsed is None
    assert budget.ignored is not None and budget.ignored.startswith(why)


def test_no_record_gives_the_whole_budget(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert startclock.read(tmp_path) is None
    assert startclock.agent_budget(600, None).seconds == 600


def test_record_and_read_round_trip(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    startclock.record(tmp_path, 1234567890.25)
    assert startclock.read(tmp_path) == 1234567890.25
    assert [p.name for p in (tmp_path / ".git").iterdir()] == [startclock.FILE_NAME]


@pytest.mark.parametrize("text", ["", "soon", "inf", "nan", "1" * 65, "\xff"])
def test_an_unreadable_record_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / ".git").mkdir()
    startclock.record_path(tmp_path).write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match="it is"):
        startclock.read(tmp_path)
