"""The termination-message contract the workflow side parses."""

from __future__ import annotations

import json

import pytest

from gastown.runtime.result import (
    EXIT_CODES,
    MAX_TERMINATION_MESSAGE_BYTES,
    ErrorClass,
    Outcome,
    PolecatResult,
    outcome_for_exit_code,
)


def test_every_outcome_has_its_own_exit_code_and_completed_is_zero() -> None:
    # Every outcome the pod can report (the workflow alone concludes pod_failed, terminated).
    assert set(EXIT_CODES) == set(Outcome) - {Outcome.POD_FAILED, Outcome.TERMINATED}
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    assert EXIT_CODES[Outcome.COMPLETED] == 0
    assert {1, 2}.isdisjoint(EXIT_CODES.values())  # crashes and usage errors stay distinct
    for outcome, code in EXIT_CODES.items():
        assert outcome_for_exit_code(code) is outcome
    assert outcome_for_exit_code(1) is None


def test_round_trip_uses_camel_case_on_the_wire() -> None:
    result = PolecatResult(
        outcome=Outcome.COMPLETED,
        branch="polecat/x",
        base_commit="a" * 40,
        head_commit="b" * 40,
        commits=2,
        pushed=True,
        pull_request_url="https://github.com/o/r/pull/1",
        agent_turns=4,
        agent_cost_usd=0.5,
        agent_session_id="s",
        message="ok",
    )
    text = result.to_termination_message()
    wire = json.loads(text)
    assert wire["pullRequestURL"] == "https://github.com/o/r/pull/1"
    assert wire["baseCommit"] == "a" * 40
    assert wire["agentCostUSD"] == 0.5
    assert PolecatResult.from_termination_message(text) == result


@pytest.mark.parametrize("message", ["é" * 20_000, '"\\\n' * 9_000, "x" * 100_000, "\x00" * 5000])
def test_huge_messages_are_cut_to_a_valid_4096_byte_document(message: str) -> None:
    result = PolecatResult(
        outcome=Outcome.PUSH_FAILED,
        branch="polecat/furiosa/dm-1",
        head_commit="c" * 40,
        error_class=ErrorClass.PUSH_REJECTED,
        message=message,
    )
    text = result.to_termination_message()
    assert len(text.encode()) <= MAX_TERMINATION_MESSAGE_BYTES
    parsed = PolecatResult.from_termination_message(text)
    assert parsed.outcome is Outcome.PUSH_FAILED
    assert parsed.error_class is ErrorClass.PUSH_REJECTED
    assert parsed.head_commit == "c" * 40
    assert parsed.message.endswith("[truncated]")
    assert message.startswith(parsed.message.removesuffix("…[truncated]"))
    # The budget is used, not wasted.
    assert len(text.encode()) > MAX_TERMINATION_MESSAGE_BYTES - 200


def test_huge_other_fields_still_yield_valid_json() -> None:
    result = PolecatResult(outcome=Outcome.COMPLETED, branch="b" * 10_000, message="m" * 10_000)
    text = result.to_termination_message()
    assert len(text.encode()) <= MAX_TERMINATION_MESSAGE_BYTES
    assert PolecatResult.from_termination_message(text).outcome is Outcome.COMPLETED


def test_result_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gastown.runtime.result\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('kubernetes', 'temporalio', 'subprocess', 'asyncio', 'http')]\n"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
