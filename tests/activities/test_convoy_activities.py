"""The convoy's Kubernetes activities and schedule_pod_deletion against the sandbox API server:
real admission (the CRDs' schemas), real 404/409 answers, run in Temporal's activity
environment (they read their activity info)."""

from __future__ import annotations

import dataclasses
import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from gastown.activities.convoys import ConvoyActivities, mask_url, summary_json
from gastown.activities.pods import PodActivities
from gastown.api import identity as ids
from gastown.api.convoy import BeadPhase, ConvoyPhase, FailurePolicy
from gastown.api.polecat import AgentType
from gastown.kube import (
    CONVOYS,
    EVENTS,
    NO_RETRY,
    PODS,
    POLECATS,
    RIGS,
    Kube,
    from_kubeconfig,
    reading,
    timestamps,
    writing,
)
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    ConvoyBead,
    ConvoyCounts,
    ConvoyInput,
    ConvoyNotice,
    ConvoyProgress,
    ConvoyStatusUpdate,
    DispatchRequest,
    PodDeletion,
)
from gastown.workflows.resolve import OperatorDefaults
from tests.conftest import Cluster
from tests.webhook import https_webhook

DEFAULTS = OperatorDefaults(image="example.org/polecat:1", active_deadline_seconds=900)
GROUP_VERSION = "gastown.gastown.io/v1alpha1"


@pytest.fixture(scope="module")
def kube(cluster: Cluster) -> Kube:
    return from_kubeconfig(str(cluster.kubeconfig), NO_RETRY)


@pytest.fixture
def make_rig(kube: Kube) -> Iterator[Callable[[dict[str, Any]], str]]:
    """Creates Rigs with these settings under fresh names; deletes them after the test."""
    made: list[str] = []

    def make(settings: dict[str, Any]) -> str:
        name = f"rig-{secrets.token_hex(3)}"
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": "Rig",
            "metadata": {"name": name},
            "spec": {
                "gitURL": "git@github.com:org/repo.git",
                "beadsPrefix": "dm",
                "settings": settings,
            },
        }
        kube.run_sync(writing.create(RIGS, body))
        made.append(name)
        return name

    yield make
    for name in made:
        kube.run_sync(writing.delete(RIGS, name))


@pytest.fixture
def rig(make_rig: Callable[[dict[str, Any]], str]) -> str:
    return make_rig({"maxPolecats": 3})


@pytest.fixture
def make_convoy(kube: Kube, namespace: str) -> Callable[..., dict[str, Any]]:
    def make(name: str = "wave", **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": "Convoy",
            "metadata": {"name": name},
            "spec": {"description": "Wave 1", "trackedBeads": ["dm-1", "dm-2"], **spec},
        }
        return kube.run_sync(writing.create(CONVOYS, body, namespace))

    return make


def identity(obj: dict[str, Any]) -> ConvoyInput:
    meta = obj["metadata"]
    return ConvoyInput(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])


async def run(fn: Callable[..., Any], arg: Any) -> Any:
    return await ActivityEnvironment().run(fn, arg)


async def refused(fn: Callable[..., Any], arg: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await run(fn, arg)
    assert info.value.non_retryable
    return info.value


# ---------------------------------------------------------------- resolve_convoy
async def test_resolve_reads_the_spec_and_the_rigs_limit(
    kube: Kube, rig: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    obj = make_convoy(
        rigRef=rig,
        parallelism=2,
        failurePolicy="Retry",
        maxRetries=1,
        maxCostUSD=5.5,
        notifyOnComplete="https://hooks.example.org/x?token=s",
    )
    resolved = await run(ConvoyActivities(kube, DEFAULTS).resolve_convoy, identity(obj))

    assert (resolved.rig, resolved.beads, resolved.max_polecats) == (rig, ["dm-1", "dm-2"], 3)
    assert (resolved.parallelism, resolved.window) == (2, 2)
    assert (resolved.failure_policy, resolved.max_retries) == (FailurePolicy.RETRY, 1)
    assert (resolved.max_cost_usd, resolved.notify) == (5.5, True)
    assert "token" not in resolved.model_dump_json()  # the URL never enters history


async def test_resolve_refuses_a_convoy_without_a_rig_or_with_an_unknown_one(
    kube: Kube, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    acts = ConvoyActivities(kube, DEFAULTS)
    err = await refused(acts.resolve_convoy, identity(make_convoy("norig")))
    assert err.type == c.INVALID_SPEC and "spec.rigRef" in err.message
    err = await refused(acts.resolve_convoy, identity(make_convoy("ghost", rigRef="nope")))
    assert err.type == c.RIG_NOT_FOUND and "'nope'" in err.message


async def test_resolve_refuses_a_replaced_convoy_and_an_unserved_namespace(
    kube: Kube, rig: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    obj = make_convoy(rigRef=rig)
    replaced = identity(obj).model_copy(update={"uid": "another-uid"})
    err = await refused(ConvoyActivities(kube, DEFAULTS).resolve_convoy, replaced)
    assert err.type == c.CONVOY_GONE
    elsewhere = dataclasses.replace(DEFAULTS, namespaces=["only-this-one"])
    err = await refused(ConvoyActivities(kube, elsewhere).resolve_convoy, identity(obj))
    assert err.type == c.NAMESPACE_NOT_SERVED


# ---------------------------------------------------------------- dispatch_polecat
def dispatch(obj: dict[str, Any], rig: str, bead: str = "dm-1", retry: int = 0) -> DispatchRequest:
    meta = obj["metadata"]
    return DispatchRequest(
        namespace=meta["namespace"],
        convoy=meta["name"],
        convoy_uid=meta["uid"],
        rig=rig,
        bead_id=bead,
        retry=retry,
        agent=AgentType.COMMAND,
    )


async def test_dispatch_creates_the_polecat_and_a_retry_adopts_it(
    kube: Kube, rig: str, namespace: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    obj = make_convoy(rigRef=rig)
    acts = ConvoyActivities(kube, DEFAULTS)
    first = await run(acts.dispatch_polecat, dispatch(obj, rig, retry=1))
    again = await run(acts.dispatch_polecat, dispatch(obj, rig, retry=1))

    assert first == again and first.name == "wave-dm-1-r1"
    polecat = await kube.run(reading.get(POLECATS, first.name, namespace))
    meta = polecat["metadata"]
    assert meta["uid"] == first.uid
    assert meta["labels"][ids.LABEL_CONVOY] == "wave"
    assert (meta["labels"][ids.LABEL_RIG], meta["labels"][ids.LABEL_BEAD]) == (rig, "dm-1")
    assert meta["annotations"][ids.ANNOTATION_WORKFLOW_ID] == ids.polecat_workflow_id(
        namespace, first.name
    )
    [owner] = meta["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Convoy",
        obj["metadata"]["uid"],
        False,
    )
    assert polecat["spec"] == {
        "rig": rig,
        "beadID": "dm-1",
        "desiredState": "Working",
        "agent": "command",
        "convoy": "wave",
    } | {
        k: v
        for k, v in polecat["spec"].items()
        if k not in ("rig", "beadID", "desiredState", "agent", "convoy")
    }


async def test_dispatch_takes_the_digest_name_when_another_owns_the_readable_one(
    kube: Kube, rig: str, namespace: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    # Convoy `a` with bead `b-c-1` and convoy `a-b` with bead `c-1` meet at `a-b-c-1`.
    first = make_convoy("a", rigRef=rig, trackedBeads=["b-c-1"])
    second = make_convoy("a-b", rigRef=rig, trackedBeads=["c-1"])
    acts = ConvoyActivities(kube, DEFAULTS)
    one = await run(acts.dispatch_polecat, dispatch(first, rig, bead="b-c-1"))
    two = await run(acts.dispatch_polecat, dispatch(second, rig, bead="c-1"))

    assert one.name == "a-b-c-1"
    assert two.name == ids.convoy_polecat_name("a-b", "c-1", hashed=True) != one.name
    labels = (await kube.run(reading.get(POLECATS, two.name, namespace)))["metadata"]["labels"]
    assert labels[ids.LABEL_CONVOY] == "a-b"


# ---------------------------------------------------------------- update_convoy_status
def progress(phase: ConvoyPhase) -> ConvoyProgress:
    beads = [
        ConvoyBead(
            bead_id="dm-1",
            phase=BeadPhase.DONE,
            polecat="wave-dm-1",
            attempts=1,
            cost_usd=0.5,
            branch="feature/dm-1",
        ),
        ConvoyBead(bead_id="dm-2", phase=BeadPhase.PENDING),
    ]
    return ConvoyProgress(
        phase=phase,
        counts=ConvoyCounts(total=2, done=1, pending=1),
        cost_usd=0.5,
        reason="MaxCostReached",
        message="cap",
        beads=beads,
    )


async def test_status_is_written_from_the_model_with_a_deterministic_event(
    kube: Kube, rig: str, namespace: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    obj = make_convoy(rigRef=rig)
    meta = obj["metadata"]
    update = ConvoyStatusUpdate(
        namespace=namespace,
        name="wave",
        uid=meta["uid"],
        workflow_id="convoy/x/wave",
        progress=progress(ConvoyPhase.PARTIALLY_FAILED),
        started_at=timestamps.parse("2026-11-30T12:00:00Z"),
        finished=True,
        event_type="Warning",
    )
    acts = ConvoyActivities(kube, DEFAULTS)
    await run(acts.update_convoy_status, update)
    await run(acts.update_convoy_status, update)  # a retry: the same Event, not a second

    status = (await kube.run(reading.get(CONVOYS, "wave", namespace)))["status"]
    assert (status["phase"], status["progress"], status["costUSD"]) == (
        "PartiallyFailed",
        "1/2",
        0.5,
    )
    assert status["counts"]["done"] == 1 and status["completedBeads"] == ["dm-1"]
    assert status["pendingBeads"] == ["dm-2"] and status["workflowID"] == "convoy/x/wave"
    assert status["beads"][0] == {
        "beadID": "dm-1",
        "phase": "Done",
        "polecat": "wave-dm-1",
        "attempts": 1,
        "branch": "feature/dm-1",
        "costUSD": 0.5,
    }
    assert status["startedAt"] == "2026-11-30T12:00:00Z" and "completedAt" in status
    events = [
        e
        for e in await kube.run(reading.items(EVENTS, namespace))
        if e["involvedObject"]["uid"] == meta["uid"]
    ]
    assert [(e["reason"], e["type"]) for e in events] == [("MaxCostReached", "Warning")]


async def test_status_of_a_deleted_convoy_is_convoy_gone(
    kube: Kube, rig: str, namespace: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    obj = make_convoy(rigRef=rig)
    await kube.run(writing.delete(CONVOYS, "wave", namespace))
    update = ConvoyStatusUpdate(
        namespace=namespace,
        name="wave",
        uid=obj["metadata"]["uid"],
        workflow_id="w",
        progress=progress(ConvoyPhase.IN_PROGRESS),
    )
    err = await refused(ConvoyActivities(kube, DEFAULTS).update_convoy_status, update)
    assert err.type == c.CONVOY_GONE


# ---------------------------------------------------------------- notify_convoy
async def test_notify_records_an_event_and_never_shows_the_urls_secret(
    kube: Kube, rig: str, namespace: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    obj = make_convoy(rigRef=rig, notifyOnComplete="slack:#convoys")
    notice = ConvoyNotice(
        namespace=namespace,
        name="wave",
        uid=obj["metadata"]["uid"],
        description="Wave 1",
        progress=progress(ConvoyPhase.COMPLETE),
    )
    assert await run(ConvoyActivities(kube, DEFAULTS).notify_convoy, notice) is False  # no POST
    events = [
        e
        for e in await kube.run(reading.items(EVENTS, namespace))
        if e["reason"] == "ConvoyFinished"
    ]
    assert len(events) == 1 and "convoy wave Complete" in events[0]["message"]

    url = "https://user:pw@hooks.example.org/services/T0/B0/SECRET?token=abc"
    assert mask_url(url) == "https://hooks.example.org/…"
    body = summary_json(notice)
    assert (body["phase"], body["counts"]["done"], body["beads"][0]["beadID"]) == (
        "Complete",
        1,
        "dm-1",
    )


# ---------------------------------------------------------------- schedule_pod_deletion
async def test_schedule_pod_deletion_annotates_only_the_pod_it_was_given(
    kube: Kube, namespace: str
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "polecat-nux-1"},
        # Bound to a node the sandbox does not run: the pod stays as created.
        "spec": {"nodeName": "elsewhere", "containers": [{"name": "c", "image": "x"}]},
    }
    pod = await kube.run(writing.create(PODS, body, namespace))
    acts = PodActivities(kube)
    uid = pod["metadata"]["uid"]
    ask = PodDeletion(namespace=namespace, name="polecat-nux-1", uid=uid, ttl_seconds=600)

    assert await run(acts.schedule_pod_deletion, ask) is True
    annotated = await kube.run(reading.get(PODS, "polecat-nux-1", namespace))
    when = timestamps.parse(annotated["metadata"]["annotations"][ids.ANNOTATION_DELETE_AFTER])
    created = timestamps.parse(annotated["metadata"]["creationTimestamp"])
    assert 590 <= (when - created).total_seconds() <= 900
    other = ask.model_copy(update={"uid": "a-newer-pod", "ttl_seconds": 0})
    assert await run(acts.schedule_pod_deletion, other) is False  # not the pod it launched
    again = await kube.run(reading.get(PODS, "polecat-nux-1", namespace))
    assert again["metadata"]["annotations"] == annotated["metadata"]["annotations"]
    gone = ask.model_copy(update={"name": "polecat-gone-1"})
    assert await run(acts.schedule_pod_deletion, gone) is False  # NotFound: nothing to do


async def test_a_failed_post_is_retryable_and_names_only_the_masked_url(
    kube: Kube, rig: str, namespace: str, make_convoy: Callable[..., dict[str, Any]]
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"https://user:pw@127.0.0.1:{port}/services/SECRET?token=abc"
    obj = make_convoy(rigRef=rig, notifyOnComplete=url)
    notice = ConvoyNotice(namespace=namespace, name="wave", uid=obj["metadata"]["uid"],
                          description="Wave 1", progress=progress(ConvoyPhase.FAILED))  # fmt: skip
    with pytest.raises(ApplicationError) as info:
        await run(ConvoyActivities(kube, DEFAULTS).notify_convoy, notice)

    assert not info.value.non_retryable  # the workflow's bounded retries try again
    assert f"https://127.0.0.1:{port}/…" in info.value.message
    for secret in ("SECRET", "token", "abc", "pw"):
        assert secret not in info.value.message
    [event] = [e for e in await kube.run(reading.items(EVENTS, namespace))
               if e["reason"] == "ConvoyFinished"]  # fmt: skip
    assert "SECRET" not in event["message"] and event["type"] == "Warning"


async def test_an_https_url_gets_one_post_of_the_summary(
    kube: Kube,
    rig: str,
    namespace: str,
    make_convoy: Callable[..., dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with https_webhook(tmp_path, monkeypatch) as hook:
        url = f"{hook.base}/hooks/SECRET?token=abc"
        obj = make_convoy(rigRef=rig, notifyOnComplete=url)
        notice = ConvoyNotice(
            namespace=namespace,
            name="wave",
            uid=obj["metadata"]["uid"],
            description="Wave 1",
            progress=progress(ConvoyPhase.COMPLETE),
        )
        assert await run(ConvoyActivities(kube, DEFAULTS).notify_convoy, notice) is True
    [(path, body, auth)] = hook.posts
    assert path == "/hooks/SECRET?token=abc"  # the URL as written, query and all
    assert auth == ""
    assert body == summary_json(notice)
    assert (body["convoy"], body["phase"]) == ("wave", "Complete")
    [event] = [e for e in await kube.run(reading.items(EVENTS, namespace))
               if e["reason"] == "ConvoyFinished"]  # fmt: skip
    assert event["type"] == "Normal"
    assert "summary posted to https://127.0.0.1:" in event["message"]
    assert "SECRET" not in event["message"] and "token" not in event["message"]


@pytest.mark.usefixtures("rules_off")
async def test_resolve_refuses_a_rig_stored_before_a_rule_it_breaks(
    make_rig: Callable[[dict[str, Any]], str],
    kube: Kube,
    make_convoy: Callable[..., dict[str, Any]],
) -> None:
    """One env name twice in the rig's defaults (refused by the CRD now, stored with the rules
    off): the convoy fails INVALID_SPEC naming the rig and the fix, not a raw pydantic error
    retried five times."""
    env = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    name = make_rig({"polecatDefaults": {"agentConfig": {"env": env}}})
    acts = ConvoyActivities(kube, DEFAULTS)
    err = await refused(acts.resolve_convoy, identity(make_convoy(rigRef=name)))
    assert err.type == c.INVALID_SPEC
    assert f"rig '{name}' is invalid" in err.message
    assert "names A more than once" in err.message
    assert f"kubectl edit rig {name}" in err.message
