"""The chart's RBAC, proven sufficient and minimal in the authorising sandbox.

The worker and the watcher run as the chart's own ServiceAccounts (tokens from the real
`kubectl create token`, kubeconfigs built for them) against the Roles, ClusterRoles and bindings
Helm's Go SDK renders from charts/gastown-operator. An applied polecat is run to Done with every
call allowed. Then each rule item (one verb of one rule) is removed in turn and the same flow
is run until the first refusal: it must be that verb on that resource, refused with the
apiserver's 403 (the sandbox's audit of authorisation decisions says which call it was).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from temporalio.client import Client
from temporalio.service import RPCError

from gastown.api.identity import LABEL_POLECAT, convoy_workflow_id
from gastown.config.kube import KubeSettings
from gastown.config.temporal import TemporalSettings
from gastown.kube import NO_RETRY, Kube, NotFound
from gastown.kube.client import connect as connect_kube
from gastown.operator import finalizer
from gastown.operator.queue import Requeue
from gastown.sandbox import rbac
from gastown.sandbox.cluster import Sandbox
from gastown.service.watcher import ElectionOptions, run_watcher
from gastown.service.worker import WorkerOptions, build_worker
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import DEMO_AGENT, TEST_DEFAULTS, ClusterKube, gt_runner, wait_until
from tests.operator.conftest import OPTIONS, ThreadedWatcher, apply, polecat_doc
from tests.sandbox.authz.conftest import create_token, kubeconfig_for

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts/gastown-operator"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
PROBE_RELEASE = "gt"
# Finished pods go a second after they finish, so the watcher's TTL deletion is in the flow.
CHART_DEFAULTS = dataclasses.replace(TEST_DEFAULTS, succeeded_pod_ttl_seconds=1)


def render_rbac(release: str, namespace: str) -> list[dict[str, Any]]:
    """The chart's ServiceAccounts and RBAC objects, rendered by Helm's Go SDK."""
    chart = helm.Chart.load(CHART)
    try:
        rendered = chart.render(
            {"clusterWide": True}, name=release, namespace=namespace, is_install=True
        )
    finally:
        chart.close()
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") in RBAC_KINDS:
                docs.append(doc)
    return docs


def fullname(release: str) -> str:
    return f"{release}-gastown-operator"


@dataclass(frozen=True)
class RuleItem:
    """One verb of one rule of one role, named independently of the release."""

    kind: str
    role: str  # the role's name without the release's fullname prefix
    index: int
    verb: str
    rule: str  # the rule as text, for messages

    @property
    def id(self) -> str:
        return f"{self.role}:{self.rule}:{self.verb}".replace(" ", "")


def _role_suffix(name: str, release: str) -> str:
    prefix = fullname(release)
    return name[len(prefix) :] if name.startswith(prefix) else name


def _rule_text(rule: dict[str, Any]) -> str:
    groups = ",".join(g or "core" for g in rule.get("apiGroups") or ())
    names = rule.get("resourceNames")
    text = f"{groups}/{','.join(rule.get('resources') or ())}"
    return f"{text}[{','.join(names)}]" if names else text


def rule_items(docs: list[dict[str, Any]], release: str) -> list[RuleItem]:
    items = []
    for doc in docs:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        for index, rule in enumerate(doc.get("rules") or ()):
            for verb in rule.get("verbs") or ():
                items.append(
                    RuleItem(
                        doc["kind"],
                        _role_suffix(doc["metadata"]["name"], release),
                        index,
                        verb,
                        _rule_text(rule),
                    )
                )
    return items


def without(docs: list[dict[str, Any]], item: RuleItem, release: str) -> list[dict[str, Any]]:
    """The objects with `item`'s verb taken out of its rule (the rule goes if it empties)."""
    out = copy.deepcopy(docs)
    for doc in out:
        if doc["kind"] == item.kind and _role_suffix(doc["metadata"]["name"], release) == item.role:
            rules = doc["rules"]
            rules[item.index]["verbs"] = [v for v in rules[item.index]["verbs"] if v != item.verb]
            doc["rules"] = [r for r in rules if r["verbs"]]
    return out


ITEMS = rule_items(render_rbac(PROBE_RELEASE, "gastown-system"), PROBE_RELEASE)


# ---------------------------------------------------------------------- the stack
class ChartWatcher(ThreadedWatcher):
    """The watcher process's own entry (`run_watcher`: Lease election included) on a thread,
    with the watcher ServiceAccount's kubeconfig."""

    def __init__(self, kubeconfig: str, temporal: TemporalDev, queue: str, namespace: str) -> None:
        super().__init__(kubeconfig, temporal, queue)
        self.namespace = namespace

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        self.ready.set()
        await run_watcher(
            TemporalSettings(self.temporal.address, self.temporal.namespace, self.task_queue),
            KubeSettings(self.kubeconfig, None, self.namespace, in_cluster=False),
            OPTIONS,
            # Renewing often, so the Lease's update is part of even a short flow.
            ElectionOptions(
                namespace=self.namespace,
                identity="chart-rbac-test",
                lease_seconds=3.0,
                renew_seconds=0.5,
                retry_seconds=0.5,
            ),
            self.stop,
        )

    def start(self) -> Any:
        self.thread.start()
        assert self.ready.wait(30), "the watcher did not start"
        if self.error is not None:
            raise self.error
        return None


@dataclass
class Stack:
    release: str
    namespace: str
    queue: str
    users: tuple[str, str]  # worker, watcher
    watcher_kube: Kube  # the watcher's account, for calls a flow cannot time


def apply_docs(cluster: Cluster, docs: list[dict[str, Any]]) -> None:
    result = cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert result.returncode == 0, result.stderr


def delete_cluster_scoped(cluster: Cluster, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            cluster.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], "--wait=false")


@asynccontextmanager
async def chart_stack(
    cluster: Cluster,
    temporal: TemporalDev,
    temporal_client: Client,
    namespace: str,
    docs: list[dict[str, Any]],
    release: str,
    tmp: Path,
) -> AsyncIterator[Stack]:
    """Apply the RBAC objects; run the worker and the watcher as the chart's accounts."""
    apply_docs(cluster, docs)
    accounts = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
    worker_sa = next(a for a in accounts if a.endswith("-worker"))
    watcher_sa = next(a for a in accounts if a.endswith("-watcher"))
    paths = {}
    for sa in (worker_sa, watcher_sa):
        token = create_token(cluster, namespace, sa)
        paths[sa] = kubeconfig_for(cluster.kubeconfig, token, tmp / f"{sa}.kubeconfig")
    queue = f"chart-{secrets.token_hex(4)}"
    kube = connect_kube(KubeSettings(str(paths[worker_sa]), None, namespace, False), NO_RETRY)
    # A refused flow leaves activities retrying: the worker must not wait for them to end.
    options = WorkerOptions(graceful_shutdown_seconds=1)
    worker = build_worker(temporal_client, queue, kube, CHART_DEFAULTS, options)
    watcher = ChartWatcher(str(paths[watcher_sa]), temporal, queue, namespace)
    try:
        async with worker:
            watcher.start()
            try:
                yield Stack(
                    release,
                    namespace,
                    queue,
                    (
                        f"system:serviceaccount:{namespace}:{worker_sa}",
                        f"system:serviceaccount:{namespace}:{watcher_sa}",
                    ),
                    connect_kube(
                        KubeSettings(str(paths[watcher_sa]), None, namespace, False), NO_RETRY
                    ),
                )
            finally:
                await end_workflows(temporal_client, queue)
                await asyncio.to_thread(watcher.close)
    finally:
        delete_cluster_scoped(cluster, docs)


async def end_workflows(client: Client, queue: str) -> None:
    """Terminate what is still running on this stack's task queue (a refused flow's work)."""
    async for wf in client.list_workflows(f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"):
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test over")


_ALLOWED_BY = re.compile(r' of (ClusterRole|Role) "([^"]+)" to ')


def item_of(decision: rbac.Decision, docs: list[dict[str, Any]], release: str) -> RuleItem | None:
    """The chart's rule item that allowed a decision (None: a default role, e.g. discovery)."""
    found = _ALLOWED_BY.search(decision.reason)
    if not decision.allowed or found is None:
        return None
    kind, name = found.groups()
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            index = doc["rules"].index(decision.rule)
            return RuleItem(
                kind,
                _role_suffix(name, release),
                index,
                decision.attrs.verb,
                _rule_text(decision.rule or {}),
            )
    return None


def decisions(sandbox: Sandbox, users: tuple[str, ...]) -> list[rbac.Decision]:
    assert sandbox.api is not None
    audit = sandbox.api.authorizer.audit
    return sandbox.call(lambda: [d for d in audit if d.attrs.user.name in users])


@pytest.fixture
def restricted(cluster: Cluster, namespace: str) -> str:
    """The release namespace, labelled as the chart labels it (pods must pass restricted)."""
    result = cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    assert result.returncode == 0, result.stderr
    return namespace


# ---------------------------------------------------------------------- the flows
@dataclass
class Flow:
    """What a scenario drives: the user's kubectl (admin), the cluster, Temporal."""

    cluster: Cluster
    sandbox: Sandbox
    temporal: TemporalDev
    temporal_client: Client
    kube: ClusterKube
    namespace: str
    queue: str
    rig_factory: Callable[..., str]
    watcher_kube: Kube

    def kubectl(self, *args: str, stdin: str | None = None) -> Any:
        return self.cluster.kubectl(*args, stdin=stdin)

    async def phase(self, name: str) -> str | None:
        try:
            obj = await self.kube.get_polecat(self.namespace, name)
        except NotFound:
            return None
        return (obj.get("status") or {}).get("phase")

    async def until_phase(self, name: str, *phases: str, timeout: float = 120) -> None:
        async def reached() -> bool:
            return await self.phase(name) in phases

        await wait_until(reached, timeout, f"polecat {name} to reach {'/'.join(phases)}")


def demo(mode: str) -> dict[str, Any]:
    return {"command": DEMO_AGENT, "env": [{"name": "DEMO_AGENT_MODE", "value": mode}]}


async def applied(flow: Flow) -> None:
    """`kubectl apply` a Polecat: the watcher adopts it, the worker runs it to Done."""
    rig = flow.rig_factory()
    apply(flow.kubectl, polecat_doc(flow.namespace, "nux", rig, desiredState="Working"))
    await flow.until_phase("nux", "Done")

    async def collected() -> bool:
        return not await flow.kube.pods(flow.namespace, f"{LABEL_POLECAT}=nux")

    # The finished pod's TTL (CHART_DEFAULTS: 1 s) passes and the watcher deletes it.
    await wait_until(collected, 60, "the finished pod to be deleted after its TTL")


async def slung(flow: Flow) -> None:
    """`kubectl gt sling` with a task, as the user (the user's own RBAC is not the chart's)."""
    rig = flow.rig_factory()
    gt = gt_runner(flow.cluster, flow.temporal, flow.queue, flow.namespace, seed=None)
    result = await gt(
        "sling", "dm-0002", rig, "--name", "slit", "--agent", "command", "--task", "Fix it.",
        "--wait", "--timeout", "120",
    )  # fmt: skip
    assert result.code == 0, result.err


async def convoy(flow: Flow) -> None:
    """`kubectl apply` a Convoy: the watcher starts it, the worker makes its polecat."""
    rig = flow.rig_factory()
    doc = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Convoy",
        "metadata": {"name": "wave", "namespace": flow.namespace},
        "spec": {
            "description": "Wave 1",
            "agent": "command",
            "trackedBeads": ["dm-1"],
            "rigRef": rig,
            "parallelism": 1,
        },
    }
    apply(flow.kubectl, doc)
    handle = flow.temporal_client.get_workflow_handle(convoy_workflow_id(flow.namespace, "wave"))

    async def started() -> bool:
        try:
            await handle.describe()
        except RPCError:
            return False
        return True

    await wait_until(started, 60, "the convoy's workflow")
    await asyncio.wait_for(handle.result(), 120)


async def deleted(flow: Flow) -> None:
    """A working polecat deleted: its pod goes, the finalizer comes off, the CR goes."""
    rig = flow.rig_factory(agentConfig=demo("sleep:120"))
    apply(flow.kubectl, polecat_doc(flow.namespace, "toast", rig, desiredState="Working"))
    await flow.until_phase("toast", "Working")
    result = flow.kubectl("delete", "polecat", "toast", "-n", flow.namespace, "--wait=false")
    assert result.returncode == 0, result.stderr

    async def gone() -> bool:
        return await flow.phase("toast") is None and not await flow.kube.pods(
            flow.namespace, f"{LABEL_POLECAT}=toast"
        )

    await wait_until(gone, 90, "the deleted polecat and its pod to go")


async def missing_secret(flow: Flow) -> None:
    """A rig naming a git Secret that does not exist: refused before any pod."""
    rig = flow.rig_factory(gitSecretRef={"name": "no-such-secret"})
    apply(flow.kubectl, polecat_doc(flow.namespace, "keeper", rig, desiredState="Working"))
    await flow.until_phase("keeper", "Failed")


async def replaced_leftovers(flow: Flow) -> None:
    """A polecat whose task ConfigMap and own token Secret exist already, owned by it (what a
    launch retried after its first try wrote them leaves): the worker replaces both. Its rig's
    Claude credentials are a long-lived token, so the credentials gate writes and revokes."""
    made = flow.kubectl(
        "create", "secret", "generic", "claude-creds", "-n", flow.namespace,
        "--from-literal=CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-chart-rbac-test",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    rig = flow.rig_factory(claudeCredsSecretRef={"name": "claude-creds"})
    doc = polecat_doc(flow.namespace, "slat", rig, desiredState="Idle", taskDescription="Again.")
    apply(flow.kubectl, doc)

    async def adopted() -> dict[str, Any] | None:
        obj = await flow.kube.get_polecat(flow.namespace, "slat")
        return obj if obj["metadata"].get("finalizers") else None

    uid = (await wait_until(adopted, 30, "the watcher to take the polecat in"))["metadata"]["uid"]
    owner = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "name": "slat",
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for kind, name in (("ConfigMap", "polecat-slat-task"), ("Secret", "polecat-slat-auth")):
        body = {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": flow.namespace, "ownerReferences": [owner]},
        }
        apply(flow.kubectl, body)
    patch = '{"spec":{"desiredState":"Working"}}'
    result = flow.kubectl(
        "patch", "polecat", "slat", "-n", flow.namespace, "--type=merge", "-p", patch
    )
    assert result.returncode == 0, result.stderr
    await flow.until_phase("slat", "Done")

    async def revoked() -> bool:
        got = flow.kubectl("get", "secret", "polecat-slat-auth", "-n", flow.namespace)
        return got.returncode == 1 and "NotFound" in got.stderr

    await wait_until(revoked, 60, "the polecat's own token Secret to be revoked")


async def changed_bead(flow: Flow) -> None:
    """On a cluster that does not evaluate the CRD's CEL rules (turned off here), a changed
    bead reaches the watcher, which refuses it itself (condition and Event)."""
    rig = flow.rig_factory(agentConfig=demo("sleep:120"))
    apply(flow.kubectl, polecat_doc(flow.namespace, "morsov", rig, desiredState="Working"))
    await flow.until_phase("morsov", "Working")
    store = flow.sandbox.store
    assert store is not None
    flow.sandbox.call(lambda: setattr(store, "validation_rules", False))
    try:
        change = '{"spec":{"beadID":"dm-9999"}}'
        result = flow.kubectl(
            "patch", "polecat", "morsov", "-n", flow.namespace, "--type=merge", "-p", change
        )
        assert result.returncode == 0, result.stderr

        async def refused() -> bool:
            obj = await flow.kube.get_polecat(flow.namespace, "morsov")
            conds = (obj.get("status") or {}).get("conditions") or []
            return any(c["type"] == "SpecAccepted" and c["status"] == "False" for c in conds)

        await wait_until(refused, 30, "the watcher to refuse the changed bead")
    finally:
        flow.sandbox.call(lambda: setattr(store, "validation_rules", True))
    flow.kubectl("delete", "polecat", "morsov", "-n", flow.namespace, "--wait=false")


async def moved_finalizers(flow: Flow) -> None:
    """The watcher releasing its finalizer from a stale copy while the list moved: its JSON
    patch's test fails and it reads the Polecat again (finalizer.release, called as the
    watcher's account: a race the flows above do not reliably produce)."""
    rig = flow.rig_factory()
    doc = polecat_doc(flow.namespace, "ace", rig, desiredState="Idle")
    doc["metadata"]["finalizers"] = ["example.com/first", finalizer.NAME]
    apply(flow.kubectl, doc)
    stale = await flow.kube.get_polecat(flow.namespace, "ace")
    moved = json.dumps({"metadata": {"finalizers": [finalizer.NAME]}})
    result = flow.kubectl(
        "patch", "polecat", "ace", "-n", flow.namespace, "--type=merge", "-p", moved
    )
    assert result.returncode == 0, result.stderr
    with pytest.raises(Requeue):
        await finalizer.release(flow.watcher_kube, stale)
    flow.kubectl("delete", "polecat", "ace", "-n", flow.namespace, "--wait=false")


# In the order the rule-removal test tries them: the broadest first, so most removals are
# caught by the first flow.
SCENARIOS: dict[str, Callable[[Flow], Awaitable[None]]] = {
    "leftovers": replaced_leftovers,
    "apply": applied,
    "convoy": convoy,
    "delete": deleted,
    "missing-secret": missing_secret,
    "changed-bead": changed_bead,
    "moved-finalizers": moved_finalizers,
    "sling": slung,
}


def owner_of(item: RuleItem, stack: Stack) -> str:
    """The account a role is bound to: the worker's (-worker, -worker-secrets) or the
    watcher's (-watcher, -watcher-lease)."""
    return stack.users[0] if item.role.startswith("-worker") else stack.users[1]


def flow_for(
    cluster: Cluster,
    sandbox: Sandbox,
    temporal: TemporalDev,
    temporal_client: Client,
    kube: ClusterKube,
    rig_factory: Callable[..., str],
    stack: Stack,
) -> Flow:
    return Flow(
        cluster,
        sandbox,
        temporal,
        temporal_client,
        kube,
        stack.namespace,
        stack.queue,
        rig_factory,
        stack.watcher_kube,
    )


async def test_the_flows_run_as_the_charts_service_accounts(
    cluster: Cluster,
    sandbox: Sandbox,
    temporal: TemporalDev,
    temporal_client: Client,
    restricted: str,
    rig_factory: Callable[..., str],
    kube: ClusterKube,
    tmp_path: Path,
) -> None:
    """Sufficient: every flow finishes and no call of either account is refused. And every
    rule item is used by some flow (the removal test then shows each is needed)."""
    release = f"r{secrets.token_hex(3)}"
    docs = render_rbac(release, restricted)
    assert {d["kind"] for d in docs} == set(RBAC_KINDS)
    used: dict[str, set[RuleItem]] = {}
    async with chart_stack(
        cluster, temporal, temporal_client, restricted, docs, release, tmp_path
    ) as stack:
        flow = flow_for(cluster, sandbox, temporal, temporal_client, kube, rig_factory, stack)
        for name, scenario in SCENARIOS.items():
            before = len(decisions(sandbox, stack.users))
            await scenario(flow)
            seen = decisions(sandbox, stack.users)[before:]
            used[name] = {i for i in (item_of(d, docs, release) for d in seen) if i is not None}
        seen = decisions(sandbox, stack.users)
    denied = [rbac.forbidden(d.attrs, d.reason).message for d in seen if not d.allowed]
    assert denied == []
    assert {d.attrs.user.name for d in seen} == set(stack.users)
    unused = set(rule_items(docs, release)) - set().union(*used.values())
    assert sorted(i.id for i in unused) == []
    # The applied polecat alone needs both accounts' everyday rules.
    assert {i.role for i in used["apply"]} == {"-worker", "-watcher", "-watcher-lease"}


@pytest.mark.parametrize("item", ITEMS, ids=[i.id for i in ITEMS])
async def test_each_rule_is_needed_by_exactly_the_call_it_allows(
    item: RuleItem,
    cluster: Cluster,
    sandbox: Sandbox,
    temporal: TemporalDev,
    temporal_client: Client,
    restricted: str,
    rig_factory: Callable[..., str],
    kube: ClusterKube,
    tmp_path: Path,
) -> None:
    """Minimal: without this one verb of this one rule, the flows stop at a 403 for exactly
    that verb on that resource, asked by the account the rule is for."""
    release = f"r{secrets.token_hex(3)}"
    docs = without(render_rbac(release, restricted), item, release)
    first: rbac.Decision | None = None
    async with chart_stack(
        cluster, temporal, temporal_client, restricted, docs, release, tmp_path
    ) as stack:
        flow = flow_for(cluster, sandbox, temporal, temporal_client, kube, rig_factory, stack)

        def refused() -> rbac.Decision | None:
            return next((d for d in decisions(sandbox, stack.users) if not d.allowed), None)

        for scenario in SCENARIOS.values():
            task = asyncio.create_task(scenario(flow))
            while not task.done() and (first := refused()) is None:
                await asyncio.wait({task}, timeout=0.2)
            first = first or refused()  # a flow that ended on the refusal itself
            if first is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                break
            task.result()  # a flow that failed without a refusal is a failure of its own
        owner = owner_of(item, stack)
    assert first is not None, f"every flow finished without {item.id}: the rule is not needed"
    rule = render_rbac(PROBE_RELEASE, "x")
    text = rbac.forbidden(first.attrs, first.reason).message
    attrs = first.attrs
    assert (attrs.user.name, attrs.verb) == (owner, item.verb), text
    resources, groups = _rule_parts(rule, item)
    assert attrs.combined_resource in resources and attrs.api_group in groups, text
    assert f'cannot {item.verb} resource "{attrs.combined_resource}"' in text


def _rule_parts(docs: list[dict[str, Any]], item: RuleItem) -> tuple[list[str], list[str]]:
    for doc in docs:
        if doc["kind"] == item.kind and _role_suffix(doc["metadata"]["name"], PROBE_RELEASE) == (
            item.role
        ):
            rule = doc["rules"][item.index]
            return list(rule["resources"]), list(rule["apiGroups"])
    raise AssertionError(f"no rule for {item.id}")
