"""The runtime and the workflow side agree on outcomes, exit codes and field names."""

from __future__ import annotations

from gastown.api.polecat import Outcome as ApiOutcome
from gastown.runtime.result import EXIT_CODES, ErrorClass, Outcome, PolecatResult
from gastown.workflows.classify import EXIT_OUTCOMES, parse_result


def test_every_runtime_outcome_is_an_api_outcome_with_the_same_exit_code() -> None:
    for outcome, code in EXIT_CODES.items():
        assert ApiOutcome(outcome.value).value == outcome.value
        assert EXIT_OUTCOMES[code].value == outcome.value
    assert len(EXIT_OUTCOMES) == len(EXIT_CODES)


def test_the_workflow_reads_what_the_runtime_writes() -> None:
    result = PolecatResult(
        outcome=Outcome.PUSH_FAILED,
        branch="polecat/a/b",
        head_commit="d" * 40,
        error_class=ErrorClass.PUSH_REJECTED,
        message="x" * 10_000,
    )
    doc = parse_result(result.to_termination_message(), result.exit_code)
    assert doc["outcome"] == "push_failed"
    assert doc["headCommit"] == "d" * 40
    assert doc["errorClass"] == "push_rejected"
