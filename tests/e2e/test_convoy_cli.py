"""`kubectl gt convoy …` and batch `sling` through the real kubectl, the sandbox and the
Temporal dev server.

Until the ConvoyWorkflow lands, the workflow side is a small stand-in registered under the
real type name (c.CONVOY_WORKFLOW) on a task queue of its own: it answers the `progress`
query and records the updates it receives, so these tests check what the CLI sends and
how it reads the answers, not what a convoy does.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import yaml
from kubernetes import client
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from gastown.api.identity import LABEL_CONVOY, LABEL_RIG, convoy_workflow_id
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    AddBeads,
    CancelConvoy,
    ConvoyBead,
    ConvoyCounts,
    ConvoyInput,
    ConvoyProgress,
)
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import DEMO_AGENT, Result, gt_runner, wait_until

GROUP, VERSION = "gastown.gastown.io", "v1alpha1"


@workflow.defn(name=c.CONVOY_WORKFLOW, sandboxed=False)
class StandInConvoy:
    """Answers like a convoy: beads from the adds it was told about, all pending except the
    first, which the query reports Done by polecat `from-query` (so a test can tell the
    query's answer from the CR's status)."""

    def __init__(self) -> None:
        self.beads: list[str] = []
        self.adds: list[list[str]] = []
        self.cancels: list[CancelConvoy] = []
        self.ended = False

    @workflow.run
    async def run(self, inp: ConvoyInput) -> ConvoyProgress:
        await workflow.wait_condition(lambda: self.ended)
        return self.progress()

    @workflow.query(name=c.QUERY_PROGRESS)
    def progress(self) -> ConvoyProgress:
        beads = [ConvoyBead(bead_id="dm-q1", phase="Done", polecat="from-query")]
        beads += [ConvoyBead(bead_id=b) for b in self.beads]
        return ConvoyProgress(
            phase="Cancelled" if self.ended else "InProgress",
            counts=ConvoyCounts(total=len(beads), done=1, running=0, pending=len(beads) - 1),
            cost_usd=0.25,
            beads=beads,
        )

    @workflow.update(name=c.UPDATE_ADD_BEADS)
    def add_beads(self, req: AddBeads) -> ConvoyProgress:
        self.adds.append(req.beads)
        self.beads += [b for b in req.beads if b not in self.beads]
        return self.progress()

    @workflow.update(name=c.UPDATE_CANCEL)
    def cancel(self, req: CancelConvoy) -> ConvoyProgress:
        self.cancels.append(req)
        self.ended = True
        return self.progress()

    @workflow.query(name="recorded")
    def recorded(self) -> dict[str, Any]:
        return {"adds": self.adds, "cancels": [r.model_dump() for r in self.cancels]}


@pytest.fixture
async def stand_in(temporal_client: Client) -> AsyncIterator[str]:
    queue = f"convoy-cli-{secrets.token_hex(4)}"
    async with Worker(temporal_client, task_queue=queue, workflows=[StandInConvoy]):
        yield queue


@pytest.fixture
def cgt(
    cluster: Cluster, temporal: TemporalDev, stand_in: str, namespace: str
) -> Callable[..., Awaitable[Result]]:
    """`kubectl gt …` via the real kubectl, its workflows on the stand-in's queue, generated
    names unseeded unless a run passes `seed=`."""
    return gt_runner(cluster, temporal, stand_in, namespace, seed=None)


@pytest.fixture
def rig(rig_factory: Callable[..., str]) -> str:
    """A Rig backed by the test's origin, with the defaults."""
    return rig_factory()


def apply_convoy(kubectl: Callable[..., Any], ns: str, name: str, spec: dict[str, Any]) -> None:
    """A Convoy as `kubectl apply` makes it: no workflow, no status."""
    doc = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Convoy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }
    assert kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc)).returncode == 0


def get_convoy(custom: client.CustomObjectsApi, ns: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "convoys", name)
    return obj


def list_convoys(custom: client.CustomObjectsApi, ns: str) -> list[dict[str, Any]]:
    found: dict[str, Any] = custom.list_namespaced_custom_object(GROUP, VERSION, ns, "convoys")
    items: list[dict[str, Any]] = found["items"]
    return items


def write_status(
    custom: client.CustomObjectsApi, ns: str, name: str, status: dict[str, Any]
) -> None:
    """What the convoy workflow's status writer does: a merge patch of the status."""
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, "convoys", name, {"status": status}
    )


def created_name(out: str) -> str:
    match = re.search(r"^Convoy (\S+) created: ", out, re.MULTILINE)
    assert match, out
    return match.group(1)


async def started_input(temporal_client: Client, workflow_id: str) -> dict[str, Any]:
    """The workflow's input as stored in its history (the JSON the CLI sent)."""
    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    doc: dict[str, Any] = json.loads(started.input.payloads[0].data)
    return doc


async def test_create_makes_the_convoy_and_starts_its_workflow_with_its_identity(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
    custom: client.CustomObjectsApi,
    temporal_client: Client,
    stand_in: str,
    namespace: str,
) -> None:
    result = await cgt(
        "convoy",
        "create",
        "Refactor the auth module",
        "dm-0001",
        "dm-0002",
        "dm-0003",
        "--rig",
        rig,
        "--parallelism",
        "2",
        "--failure-policy",
        "retry",
        "--max-retries",
        "3",
        "--max-cost",
        "12.5",
        "--agent",
        "command",
        "--notify",
        "https://hooks.example.com/convoys",
    )
    assert result.code == 0, result.err
    name = created_name(result.out)
    assert re.fullmatch(r"refactor-the-auth-module-[a-z0-9]{5}", name), name
    assert f"Convoy {name} created: 3 beads to rig {rig} (parallelism 2)" in result.out

    obj = get_convoy(custom, namespace, name)
    assert obj["spec"] == {
        "description": "Refactor the auth module",
        "trackedBeads": ["dm-0001", "dm-0002", "dm-0003"],
        "parallelism": 2,
        "rigRef": rig,
        "failurePolicy": "Retry",
        "maxRetries": 3,
        "maxCostUSD": 12.5,
        "agent": "command",
        "notifyOnComplete": "https://hooks.example.com/convoys",
    }
    assert obj["metadata"]["labels"][LABEL_RIG] == rig

    wid = convoy_workflow_id(namespace, name)
    desc = await temporal_client.get_workflow_handle(wid).describe()
    assert desc.workflow_type == c.CONVOY_WORKFLOW
    assert desc.task_queue == stand_in
    assert desc.status == WorkflowExecutionStatus.RUNNING
    summary = await desc.static_summary()
    assert summary is not None and "Refactor the auth module" in summary
    details = await desc.static_details()
    assert details is not None and "beads: 3" in details and rig in details
    # The input is the convoy's identity, nothing of its spec.
    inp = await started_input(temporal_client, wid)
    identity = ConvoyInput(namespace=namespace, name=name, uid=obj["metadata"]["uid"])
    assert inp == json.loads(identity.model_dump_json())
    assert "dm-0001" not in json.dumps(inp) and "Refactor" not in json.dumps(inp)

    # A chosen name that exists: a clear error, the existing one untouched.
    again = await cgt("convoy", "create", "other", "dm-0009", "--rig", rig, "--name", name)
    assert again.code == 1
    assert f"convoy '{name}' already exists" in again.err
    assert get_convoy(custom, namespace, name)["spec"]["trackedBeads"][0] == "dm-0001"

    # Generated names that meet (one seed, so the same first suffix): the second create
    # tries the next name, so both exist.
    first = created_name(
        (await cgt("convoy", "create", "Same", "dm-1", "--rig", rig, seed="7")).out
    )
    second = created_name(
        (await cgt("convoy", "create", "Same", "dm-1", "--rig", rig, seed="7")).out
    )
    assert first != second and first.startswith("same-") and second.startswith("same-")

    # Unknown rig: exit 1, nothing created.
    unknown = await cgt("convoy", "create", "x", "dm-0001", "--rig", "no-such-rig")
    assert unknown.code == 1
    assert "rig 'no-such-rig' not found" in unknown.err
    assert len(list_convoys(custom, namespace)) == 3


STATUS = {
    "phase": "InProgress",
    "progress": "3/4",
    "counts": {
        "total": 4,
        "done": 1,
        "running": 1,
        "queued": 0,
        "pending": 0,
        "failed": 1,
        "skipped": 1,
    },
    "costUSD": 1.5,
    "workflowID": "convoy/x/y",
    "beads": [
        {
            "beadID": "dm-1",
            "phase": "Done",
            "polecat": "c1-dm-1",
            "pullRequestURL": "https://github.com/o/r/pull/7",
        },
        {"beadID": "dm-2", "phase": "Dispatched", "polecat": "c1-dm-2", "polecatPhase": "Working"},
        {"beadID": "dm-3", "phase": "Failed", "polecat": "c1-dm-3", "reason": "AgentFailed"},
        {"beadID": "dm-4", "phase": "Skipped", "reason": "MaxCostReached"},
    ],
}


async def test_list_and_status_render_the_convoy_status(
    cgt: Callable[..., Awaitable[Result]],
    kubectl: Callable[..., Any],
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """A Convoy applied with kubectl (no workflow: status falls back to the CR) whose status
    the test writes as the workflow would."""
    apply_convoy(
        kubectl,
        namespace,
        "c1",
        {
            "description": "Four beads",
            "trackedBeads": ["dm-1", "dm-2", "dm-3", "dm-4"],
            "rigRef": "demo",
            "maxCostUSD": 2,
        },
    )
    write_status(custom, namespace, "c1", STATUS)

    table = (await cgt("convoy", "list")).out.splitlines()
    assert table[0].split() == ["NAME", "PROGRESS", "PHASE", "RIG", "COST", "AGE"]
    assert table[1].split()[:5] == ["c1", "3/4", "InProgress", "demo", "$1.50"]
    wide = (await cgt("convoy", "list", "-o", "wide")).out.splitlines()
    assert wide[0].split()[-4:] == ["RUNNING", "QUEUED", "FAILED", "WORKFLOW"]
    assert wide[1].split()[-4:] == ["1", "0", "1", "convoy/x/y"]
    everywhere = (await cgt("convoy", "list", "-A")).out.splitlines()
    assert everywhere[0].split()[0] == "NAMESPACE"
    assert any(line.split()[:2] == [namespace, "c1"] for line in everywhere[1:])
    assert (await cgt("convoy", "list", "-o", "name")).out.strip() == "convoy/c1"
    same = await cgt("convoy", "list", "-o", "name", "--temporal-address", "127.0.0.1:1")
    assert same.out.strip() == "convoy/c1"
    as_json = json.loads((await cgt("convoy", "list", "-o", "json")).out)
    assert [o["metadata"]["name"] for o in as_json] == ["c1"]

    status = await cgt("convoy", "status", "c1", "--temporal-address", "127.0.0.1:1")
    assert status.code == 0, status.err
    lines = status.out.splitlines()
    assert "Progress:    3/4 (75%)" in lines
    assert "Cost:        $1.50 (cap $2.00)" in lines
    assert "Beads:       1 done, 1 running (0 queued), 0 pending, 1 failed, 1 skipped" in lines
    assert "  ✓  dm-1  c1-dm-1  https://github.com/o/r/pull/7" in lines
    assert "  ○  dm-2  c1-dm-2  Working" in lines
    assert "  ✗  dm-3  c1-dm-3  Failed: AgentFailed" in lines
    assert "  \u2013  dm-4  -  Skipped: MaxCostReached" in lines
    as_yaml = yaml.safe_load((await cgt("convoy", "status", "c1", "-o", "yaml")).out)
    assert as_yaml["status"]["counts"]["failed"] == 1

    missing = await cgt("convoy", "status", "nope")
    assert missing.code == 1
    assert "convoy 'nope' not found" in missing.err


async def test_status_prefers_the_running_workflows_progress(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
) -> None:
    name = created_name((await cgt("convoy", "create", "q", "dm-7", "--rig", rig)).out)
    fresh = (await cgt("convoy", "status", name)).out.splitlines()
    assert "  ✓  dm-q1  from-query" in fresh  # the query's answer
    assert "Cost:        $0.25" in fresh
    # Temporal unreachable: the CR (no status yet) is the answer, not an error.
    stale = await cgt("convoy", "status", name, "--temporal-address", "127.0.0.1:1")
    assert stale.code == 0, stale.err
    assert "  ○  dm-7  -  Pending" in stale.out.splitlines()
    assert "from-query" not in stale.out


async def test_add_writes_the_spec_then_tells_the_workflow(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
    custom: client.CustomObjectsApi,
    temporal_client: Client,
    namespace: str,
) -> None:
    name = created_name((await cgt("convoy", "create", "a", "dm-1", "dm-2", "--rig", rig)).out)
    handle = temporal_client.get_workflow_handle(convoy_workflow_id(namespace, name))

    added = await cgt("convoy", "add", name, "dm-2", "dm-3", "dm-4")
    assert added.code == 0, added.err
    assert added.out.strip() == f"Convoy {name}: 2 beads added (1 already tracked); 4 beads in all"
    spec = get_convoy(custom, namespace, name)["spec"]
    assert spec["trackedBeads"] == ["dm-1", "dm-2", "dm-3", "dm-4"]
    recorded = await handle.query("recorded", result_type=dict)
    assert recorded["adds"] == [["dm-2", "dm-3", "dm-4"]]

    # Again: the spec is unchanged (nothing new), the workflow told again (it may have
    # missed the first time), so a retried add is safe.
    version = get_convoy(custom, namespace, name)["metadata"]["resourceVersion"]
    assert (await cgt("convoy", "add", name, "dm-3")).code == 0
    assert get_convoy(custom, namespace, name)["metadata"]["resourceVersion"] == version

    # A finished convoy takes nothing: exit 1, nothing written, the workflow not told.
    write_status(custom, namespace, name, {"phase": "Complete"})
    done = await cgt("convoy", "add", name, "dm-5")
    assert done.code == 1
    assert f"convoy '{name}' is Complete" in done.err
    assert get_convoy(custom, namespace, name)["spec"]["trackedBeads"][-1] == "dm-4"
    assert len((await handle.query("recorded", result_type=dict))["adds"]) == 2

    missing = await cgt("convoy", "add", "nope", "dm-1")
    assert missing.code == 1
    assert "convoy 'nope' not found" in missing.err


async def test_add_to_a_convoy_without_a_workflow_writes_nothing(
    cgt: Callable[..., Awaitable[Result]],
    kubectl: Callable[..., Any],
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    apply_convoy(
        kubectl,
        namespace,
        "orphan",
        {"description": "o", "trackedBeads": ["dm-1"], "rigRef": "demo"},
    )
    result = await cgt("convoy", "add", "orphan", "dm-2")
    assert result.code == 1
    assert "no running workflow" in result.err
    assert get_convoy(custom, namespace, "orphan")["spec"]["trackedBeads"] == ["dm-1"]


async def test_cancel_sends_the_cancel_update(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
    temporal_client: Client,
    namespace: str,
) -> None:
    name = created_name((await cgt("convoy", "create", "c", "dm-1", "--rig", rig)).out)
    handle = temporal_client.get_workflow_handle(convoy_workflow_id(namespace, name))
    result = await cgt("convoy", "cancel", name, "--nuke", "--reason", "wrong beads")
    assert result.code == 0, result.err
    assert result.out.startswith(f"Convoy {name} cancelled: nothing new is dispatched;")
    assert "0 running polecats nuked" in result.out
    recorded = await handle.query("recorded", result_type=dict)
    assert recorded["cancels"] == [{"nuke": True, "reason": "wrong beads"}]
    typed = temporal_client.get_workflow_handle(handle.id, result_type=ConvoyProgress)
    final = await typed.result()
    assert final.phase == "Cancelled"

    again = await cgt("convoy", "cancel", name)
    assert again.code == 1
    assert "no running workflow to cancel" in again.err


async def test_sling_with_several_beads_makes_a_convoy(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
    custom: client.CustomObjectsApi,
    temporal_client: Client,
    namespace: str,
) -> None:
    result = await cgt("sling", "dm-11", "dm-12", "dm-13", rig, "--agent", "command")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"Batch: 3 beads to {rig}"
    name = created_name(result.out)
    assert re.fullmatch(r"batch-dm-[a-z0-9]{5}", name), name
    obj = get_convoy(custom, namespace, name)
    assert obj["spec"]["description"] == f"Batch: 3 beads to {rig}"
    assert obj["spec"]["trackedBeads"] == ["dm-11", "dm-12", "dm-13"]
    assert obj["spec"]["agent"] == "command"
    inp = await started_input(temporal_client, convoy_workflow_id(namespace, name))
    assert inp["uid"] == obj["metadata"]["uid"]
    # No polecat was made by sling itself: the convoy's workflow dispatches them.
    polecats = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "polecats")
    assert polecats["items"] == []


async def test_nothing_stays_behind_when_the_workflow_cannot_start(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    # Temporal unreachable: refused before anything is created.
    down = await cgt(
        "convoy", "create", "x", "dm-1", "--rig", rig, "--temporal-address", "127.0.0.1:1"
    )
    assert down.code == 1
    assert "cannot reach Temporal" in down.err
    # Temporal reachable, its start refused (no such Temporal namespace): the Convoy was
    # created, then deleted again.
    refused = await cgt(
        "convoy", "create", "x", "dm-1", "--rig", rig, "--temporal-namespace", "no-such-ns"
    )
    assert refused.code == 1, refused.out
    assert "could not start the convoy's workflow" in refused.err
    assert list_convoys(custom, namespace) == []


async def test_wait_follows_the_convoy_to_its_end(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """--wait follows the CR's status (written here as the workflow would): exit 0 when
    Complete, 1 when it ends otherwise."""
    for final, code in (("Complete", 0), ("PartiallyFailed", 1)):
        name = f"w-{final.lower()}"
        waiting = asyncio.create_task(
            cgt("convoy", "create", "w", "dm-1", "dm-2", "--rig", rig, "--name", name, "--wait")
        )

        async def exists(name: str = name) -> bool:
            return any(o["metadata"]["name"] == name for o in list_convoys(custom, namespace))

        await wait_until(exists, 30, f"convoy {name}")
        counts = {"total": 2, "done": 1, "running": 1}
        write_status(custom, namespace, name, {"phase": "InProgress", "counts": counts})
        last = {"total": 2, "done": 1, "failed": 1 if code else 0, "running": 0}
        if not code:
            last = {"total": 2, "done": 2, "running": 0}
        write_status(custom, namespace, name, {"phase": final, "counts": last})
        result = await asyncio.wait_for(waiting, 60)
        assert result.code == code, (result.out, result.err)
        assert f"Phase:       {final}" in result.out
        assert "Progress:    2/2 (100%)" in result.out


async def test_wait_gives_up_at_its_timeout_and_the_convoy_goes_on(
    cgt: Callable[..., Awaitable[Result]],
    rig: str,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """Nothing writes this convoy's status (the stand-in does not): --wait reports it
    Pending until --timeout, then exits 1 saying so and how to follow it; the convoy stays."""
    result = await cgt(
        "convoy",
        "create",
        "late",
        "dm-1",
        "--rig",
        rig,
        "--name",
        "late",
        "--wait",
        "--timeout",
        "3s",
    )
    assert result.code == 1, (result.out, result.err)
    line = "Pending 0/1: 0 done, 0 running, 0 failed"
    assert f"  {line}" in result.out.splitlines()
    assert result.err.strip() == (
        f"error: convoy late not finished after 3s (last: {line}); "
        "it goes on: `kubectl gt convoy status late`"
    )
    assert get_convoy(custom, namespace, "late")["spec"]["trackedBeads"] == ["dm-1"]


async def test_a_real_convoy_runs_to_complete_with_wait(
    gt: Callable[..., Awaitable[Result]],
    rig: str,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """Our worker's ConvoyWorkflow, real pods running the DEMO agent: `convoy create --wait`
    follows three beads to Complete and exits 0."""
    beads = ["dm-0001", "dm-0002", "dm-0003"]
    result = await gt(
        "convoy",
        "create",
        "Three demo beads",
        *beads,
        "--rig",
        rig,
        "--agent",
        "command",
        "--parallelism",
        "2",
        "--wait",
        "--timeout",
        "5m",
        timeout=330,
    )
    assert result.code == 0, (result.out, result.err)
    name = created_name(result.out)
    assert "Phase:       Complete" in result.out
    assert "Progress:    3/3 (100%)" in result.out
    status = get_convoy(custom, namespace, name)["status"]
    assert status["phase"] == "Complete"
    assert status["counts"]["done"] == 3
    assert [b["beadID"] for b in status["beads"]] == beads
    assert all(b["phase"] == "Done" for b in status["beads"])
    polecats = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "polecats", label_selector=f"{LABEL_CONVOY}={name}"
    )["items"]
    assert sorted(p["spec"]["beadID"] for p in polecats) == beads
    assert all(p["status"]["phase"] == "Done" for p in polecats)
    for bead in beads:
        assert f"  ✓  {bead}  " in result.out


async def test_a_real_convoy_takes_added_beads_and_is_cancelled_with_nuke(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    custom: client.CustomObjectsApi,
    temporal_client: Client,
    namespace: str,
) -> None:
    """Our worker's ConvoyWorkflow: `add` reaches it (it re-reads the beads the CLI wrote to
    the spec), `status` shows its query's answer, `cancel --nuke` ends the running polecat and
    skips the rest."""
    sleeping = {
        "command": DEMO_AGENT,
        "env": [{"name": "DEMO_AGENT_MODE", "value": "sleep:120"}],
    }
    rig = rig_factory(agentConfig=sleeping)
    made = await gt(
        "convoy",
        "create",
        "Slow",
        "dm-0001",
        "--rig",
        rig,
        "--agent",
        "command",
        "--parallelism",
        "1",
    )
    assert made.code == 0, made.err
    name = created_name(made.out)

    async def working() -> bool:
        status = get_convoy(custom, namespace, name).get("status") or {}
        beads = status.get("beads") or []
        return bool(beads) and beads[0].get("polecatPhase") == "Working"

    await wait_until(working, 90, "the first bead's polecat at work")
    added = await gt("convoy", "add", name, "dm-0002")
    assert added.code == 0, added.err
    assert added.out.strip() == f"Convoy {name}: 1 beads added; 2 beads in all"

    status = await gt("convoy", "status", name)
    lines = status.out.splitlines()
    assert any(line.startswith("  ○  dm-0001  ") and line.endswith("Working") for line in lines)
    assert any(line.startswith("  ○  dm-0002  ") for line in lines), status.out

    cancelled = await gt("convoy", "cancel", name, "--nuke")
    assert cancelled.code == 0, cancelled.err
    assert f"Convoy {name} cancelled" in cancelled.out
    handle = temporal_client.get_workflow_handle(
        convoy_workflow_id(namespace, name), result_type=ConvoyProgress
    )
    final = await asyncio.wait_for(handle.result(), 90)
    assert final.phase == "Cancelled"
    by_bead = {b.bead_id: b for b in final.beads}
    assert by_bead["dm-0002"].phase == "Skipped"
    assert by_bead["dm-0001"].polecat_phase == "Terminated"


async def test_add_merges_with_a_concurrent_writer(
    cluster: Cluster,
    kubectl: Callable[..., Any],
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """The spec write is guarded by resourceVersion: when someone changed the Convoy since
    it was read, the PUT is refused, the Convoy read again and the beads merged into what is
    there now (neither write is lost)."""
    from gastown.cli.convoy_change import _write_beads
    from gastown.cli.session import Session

    apply_convoy(
        kubectl, namespace, "race", {"description": "r", "trackedBeads": ["dm-1"], "rigRef": "demo"}
    )
    session = Session(kubeconfig=str(cluster.kubeconfig), namespace_flag=namespace)
    stale = get_convoy(custom, namespace, "race")
    other = get_convoy(custom, namespace, "race")
    other["spec"]["trackedBeads"].append("dm-9")
    custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, "convoys", "race", other)

    new = await asyncio.to_thread(_write_beads, session, stale, ["dm-9", "dm-3"])
    assert new == ["dm-3"]
    assert get_convoy(custom, namespace, "race")["spec"]["trackedBeads"] == ["dm-1", "dm-9", "dm-3"]
