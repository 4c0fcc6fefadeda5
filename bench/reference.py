"""The reference the dispatcher is measured against: three no-op activities in a row.

A module of its own because Temporal's workflow sandbox re-imports a workflow's module, which
must therefore import nothing but temporalio.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop(step: int) -> int:
    return step


@workflow.defn
class ReferenceWorkflow:
    """The floor any Temporal dispatcher pays: three activity round trips."""

    @workflow.run
    async def run(self) -> int:
        total = 0
        for step in range(3):
            total += await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return total
