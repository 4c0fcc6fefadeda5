"""A workflow that takes a rig slot and closes without giving it back, as a polecat's workflow
terminated by hand does (terminating one here would not do: the test server stops skipping
time after a workflow with a running activity is terminated).

In a module of its own: the workflow sandbox re-imports a workflow's module, and a test
module's imports (the Kubernetes client among them) are not sandbox-safe.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from gastown.workflows import contract as c
    from gastown.workflows.messages import SlotAnswer


@workflow.defn(name="Ghost")
class Ghost:
    def __init__(self) -> None:
        self.answer: SlotAnswer | None = None

    @workflow.signal(name=c.SIGNAL_SLOT_ANSWER)
    def slot_answer(self, answer: SlotAnswer) -> None:
        self.answer = answer

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.answer is not None)
        assert self.answer is not None
        return self.answer.kind.value
