"""Stand-ins for the credentials workflow's tests (a module of their own: the workflow sandbox
re-imports a workflow's module by name).

`CredentialsWaiter` plays a parked polecat: it only collects the `credentials_changed` signals
the CredentialsWorkflow sends it and ends after `wants` of them. `ShortRuns` is the real
CredentialsWorkflow with a small EVENTS_PER_RUN, so a test crosses a continue-as-new cheaply.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from gastown.workflows import contract as c
    from gastown.workflows.credentials import CredentialsWorkflow
    from gastown.workflows.messages import CredentialsChanged, CredentialsInput

WAITER: str = "CredentialsWaiter"


@workflow.defn(name=WAITER)
class CredentialsWaiter:
    def __init__(self) -> None:
        self.got: list[CredentialsChanged] = []

    @workflow.signal(name=c.SIGNAL_CREDENTIALS_CHANGED)
    def credentials_changed(self, changed: CredentialsChanged) -> None:
        self.got.append(changed)

    @workflow.query(name="got")
    def received(self) -> list[CredentialsChanged]:
        return self.got

    @workflow.run
    async def run(self, wants: int) -> list[CredentialsChanged]:
        await workflow.wait_condition(lambda: len(self.got) >= wants)
        return self.got


@workflow.defn(name=c.CREDENTIALS_WORKFLOW)
class ShortRuns(CredentialsWorkflow):
    EVENTS_PER_RUN = 40

    @workflow.run
    async def run(self, inp: CredentialsInput) -> None:
        await super().run(inp)
