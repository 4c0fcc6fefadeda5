"""Workflows for tests/codec/test_codec_temporal.py: every way a payload crosses between
processes and workflows (client start, query, update, signal from another workflow, child
workflow, activity and local activity, an activity's failure), so format 2's binding to
namespace and workflow ID is checked against the SDK's real contexts; and a schedule, whose
workflow must refuse its input (its ID is not the one the input was bound to).

In a module of its own: the workflow sandbox re-imports a workflow's module.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ActivityError, ApplicationError

QUICK = timedelta(seconds=30)


@activity.defn(name="CodecEcho")
async def echo(value: str) -> str:
    if value == "fail":
        raise ApplicationError("activity failed on purpose", non_retryable=True)
    return f"echo:{value}"


@workflow.defn(name="CodecChild")
class Child:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(echo, f"child:{value}", start_to_close_timeout=QUICK)


@workflow.defn(name="CodecSignaller")
class Signaller:
    @workflow.run
    async def run(self, target: str, value: str) -> None:
        await workflow.get_external_workflow_handle(target).signal("poke", value)


@workflow.defn(name="CodecParent")
class Parent:
    def __init__(self) -> None:
        self.poked: str | None = None
        self.updated: str | None = None

    @workflow.signal(name="poke")
    def poke(self, value: str) -> None:
        self.poked = value

    @workflow.update(name="set")
    def set(self, value: str) -> str:
        self.updated = value
        return f"updated:{value}"

    @workflow.query(name="state")
    def state(self) -> dict[str, str | None]:
        return {"poked": self.poked, "updated": self.updated}

    @workflow.run
    async def run(self, value: str) -> list[str]:
        out = [value]
        out.append(await workflow.execute_activity(echo, value, start_to_close_timeout=QUICK))
        out.append(
            await workflow.execute_local_activity(
                echo, f"local:{value}", start_to_close_timeout=QUICK
            )
        )
        out.append(
            await workflow.execute_child_workflow(
                Child.run, value, id=f"{workflow.info().workflow_id}-child"
            )
        )
        try:
            await workflow.execute_activity(echo, "fail", start_to_close_timeout=QUICK)
        except ActivityError as err:
            out.append(str(err.cause))
        await workflow.wait_condition(lambda: self.poked is not None and self.updated is not None)
        out.append(f"poked:{self.poked}")
        out.append(f"updated:{self.updated}")
        return out
