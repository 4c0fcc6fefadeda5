"""PodReaperWorkflow: delete a finished pod once its TTL has passed.

A child the PolecatWorkflow starts and abandons, so the polecat's workflow completes when the
work does, while the pod (and its logs) stays for `ttlSecondsAfterFinished` or the failed-pod
TTL. A durable timer, not a cron sweep: nothing lists pods to find what to delete.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from gastown.workflows import contract as c
    from gastown.workflows.messages import ReapRequest


@workflow.defn(name="PodReaperWorkflow")
class PodReaperWorkflow:
    @workflow.run
    async def run(self, request: ReapRequest) -> None:
        if request.delay_seconds > 0:
            await workflow.sleep(timedelta(seconds=request.delay_seconds))
        await workflow.execute_activity(
            c.DELETE_POD,
            request.pod,
            start_to_close_timeout=c.API_TIMEOUT,
            retry_policy=c.API_RETRY,
        )
