"""A watcher given namespaces (a namespaced install: `--serve-namespace`) lists and watches
Polecats, Convoys, pods and credentials Secrets there only: what is elsewhere never reaches
it, so the chart's Roles in those namespaces are all it needs."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

from kubernetes import client
from temporalio.worker import Worker

from gastown.api.auth import LABEL_CREDENTIALS
from gastown.kube import SECRETS, writing
from gastown.operator import finalizer
from tests.conftest import Cluster, TemporalDev
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import OPTIONS, apply, polecat_doc, wait_until, watching


def _secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {LABEL_CREDENTIALS: "true"}},
        "stringData": {"CLAUDE_CODE_OAUTH_TOKEN": "not-a-token"},
    }


async def test_a_namespaced_watcher_sees_nothing_outside_its_namespaces(
    cluster: Cluster,
    temporal: TemporalDev,
    worker: Worker,
    namespace: str,
    core: client.CoreV1Api,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    rig_factory: Callable[..., str],
) -> None:
    other = f"t-{secrets.token_hex(4)}"
    await asyncio.to_thread(
        core.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=other))
    )
    try:
        rig = rig_factory()
        # Both exist before the watcher starts: a cluster-wide watcher's first listing would
        # hand it both at once.
        for ns in (namespace, other):
            apply(kubectl, polecat_doc(ns, "nux", rig))
            await kube.run(writing.create(SECRETS, _secret("claude-creds"), ns))
        options = dataclasses.replace(OPTIONS, namespaces=(namespace,))
        with watching(cluster, temporal, worker, options) as threaded:
            watch = threaded.watcher
            assert watch is not None
            assert [i.namespace for i in watch.secret_informers] == [namespace]

            async def ours_has_the_finalizer() -> bool:
                body = await kube.get_polecat(namespace, "nux")
                return finalizer.NAME in (body["metadata"].get("finalizers") or [])

            await wait_until(ours_has_the_finalizer, 60, "the served polecat's finalizer")
            threaded.call(watch.polecats.queue.idle())
            await wait_until(lambda: _listed(watch.secrets.listed), 30, "the Secrets listed")
            elsewhere = await kube.get_polecat(other, "nux")
            assert finalizer.NAME not in (elsewhere["metadata"].get("finalizers") or [])
            assert set(watch.secrets._known) == {(namespace, "claude-creds")}
    finally:
        await asyncio.to_thread(core.delete_namespace, other)


async def _listed(count: int) -> bool:
    return count >= 1
