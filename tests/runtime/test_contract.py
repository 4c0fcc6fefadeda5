"""The runtime and the workflow side agree on outcomes, exit codes and field names."""

from __future__ import annotations

from gastown.runtime.result import EXIT_CODES, ErrorClass, Outcome, PolecatResult
from gastown.workflows.classify import parse_result


def test_every_exit_code_classifies_as_its_outcome_without_a_message() -> None:
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    for outcome, code in EXIT_CODES.items():
        assert parse_result(None, code)["outcome"] == outcome.value


def test_only_the_workflow_concludes_pod_failed_and_terminated() -> None:
    assert set(Outcome) - set(EXIT_CODES) == {Outcome.POD_FAILED, Outcome.TERMINATED}


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
