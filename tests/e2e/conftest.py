"""End to end: the sandbox cluster, the Temporal dev server, our worker, real git, and
`kubectl gt` through the real kubectl binary.

Pods run `gt-polecat` from .tools/pod-venv as the pod's non-root user; agents are the built-in
demo agent (fast, deterministic) unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from gastown.kube import NO_RETRY, PODS, POLECATS, Kube, reading, writing
from gastown.sandbox import Sandbox
from gastown.service.worker import WorkerOptions, build_worker
from gastown.workflows.resolve import OperatorDefaults
from tests.conftest import KUBECTL, POD_BIN, Cluster, TemporalDev
from tests.runtime.conftest import chown_tree, make_origin, pod_identity
from tests.sandbox.containers.conftest import require_polecat_image, sandbox_containers
from tests.sandbox.waits import wait_until as wait_until_sync

BIN = Path(sys.executable).parent
DEMO_AGENT = ["gt-polecat", "demo-agent"]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def pod_tools() -> Path:
    if not (POD_BIN / "gt-polecat").exists():
        pytest.fail(f"{POD_BIN}/gt-polecat is missing: run `make test-tools`")
    return POD_BIN


@pytest.fixture(params=["process", pytest.param("containers", marks=pytest.mark.containers)])
def pod_mode(
    request: pytest.FixtureRequest, sandbox: Sandbox, namespace: str, core: client.CoreV1Api
) -> Iterator[str]:
    """Both pod runtimes of the sandbox, for tests that must behave alike in each: local
    processes, and podman containers of the real polecat-agent image. In container mode the
    test's pods are deleted at the end and none of the sandbox's containers may be left."""
    if request.param == "process":
        yield "process"
        return
    require_polecat_image()
    before = sandbox.config.containers
    sandbox.config.containers = True
    try:
        yield "containers"
    finally:
        sandbox.config.containers = before
        core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        wait_until_sync(lambda: not core.list_namespaced_pod(namespace).items, 60, "pods gone")
        wait_until_sync(lambda: not sandbox_containers(sandbox), 60, "no container left")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the pod user can reach (pytest's tmp_path is 0700 root)."""
    root = Path(tempfile.mkdtemp(prefix="gt-e2e-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def origin(workdir: Path) -> Path:
    """A bare repository the polecat clones from and pushes to."""
    repo = make_origin(workdir / "origin.git", {"README.md": "# demo\n"})
    chown_tree(repo, *pod_identity())
    return repo


@pytest.fixture(scope="session")
async def temporal_client(temporal: TemporalDev) -> Client:
    return await Client.connect(
        temporal.address, namespace=temporal.namespace, data_converter=pydantic_data_converter
    )


class ClusterKube(Kube):
    """The worker's gastown.kube client (NO_RETRY), with the reads the tests repeat."""

    async def get_polecat(self, namespace: str, name: str) -> dict[str, Any]:
        return await self.run(reading.get(POLECATS, name, namespace))

    async def list_polecats(self, namespace: str) -> list[dict[str, Any]]:
        return await self.run(reading.items(POLECATS, namespace))

    async def create_polecat(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.run(writing.create(POLECATS, body, namespace))

    async def pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return await self.run(reading.items(PODS, namespace, label_selector=label_selector))


@pytest.fixture(scope="session")
def kube(api_client: client.ApiClient) -> ClusterKube:
    return ClusterKube(api_client, NO_RETRY)


TEST_DEFAULTS = OperatorDefaults(
    image="ghcr.io/gastown/polecat-agent:0.1.0",
    pending_timeout_seconds=20,
    image_pull_grace_seconds=3,
    succeeded_pod_ttl_seconds=3600,
    failed_pod_ttl_seconds=3600,
)


@pytest.fixture
async def worker(
    temporal_client: Client, kube: Kube, pod_tools: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Worker]:
    """Our worker, in this event loop, on a task queue of its own for this test."""
    queue = f"gastown-{secrets.token_hex(4)}"
    defaults = getattr(request, "param", TEST_DEFAULTS)
    w = build_worker(temporal_client, queue, kube, defaults, WorkerOptions())
    async with w:
        yield w


@pytest.fixture
def rig_factory(kubectl: Callable[..., Any], origin: Path) -> Iterator[Callable[..., str]]:
    """Apply a Rig (cluster-scoped, so uniquely named per test) backed by `origin`."""
    made: list[str] = []

    def make(*, policy: dict[str, Any] | None = None, **defaults: Any) -> str:
        """`defaults` are its settings.polecatDefaults (the demo agent unless replaced),
        `policy` its spec.polecatPolicy."""
        name = f"rig-{secrets.token_hex(3)}"
        polecat_defaults = {"agentConfig": {"command": DEMO_AGENT}, **defaults}
        doc = {
            "apiVersion": "gastown.gastown.io/v1alpha1",
            "kind": "Rig",
            "metadata": {"name": name},
            "spec": {
                "gitURL": f"file://{origin}",
                "beadsPrefix": "dm",
                "settings": {"polecatDefaults": polecat_defaults},
                **({"polecatPolicy": policy} if policy is not None else {}),
            },
        }
        result = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc))
        assert result.returncode == 0, result.stderr
        made.append(name)
        return name

    yield make
    for name in made:
        kubectl("delete", "rig", name, "--wait=false")


def gt_runner(
    cluster: Cluster, temporal: TemporalDev, task_queue: str, namespace: str, seed: str | None
) -> Callable[..., Awaitable[Result]]:
    """`kubectl gt … -n <namespace>` via the real kubectl binary, without blocking the
    event loop, its workflows on `task_queue`; GASTOWN_NAME_SEED is `seed` (None: unset),
    or the run's own `seed=`."""

    async def run(*args: str, timeout: float = 120, seed: str | None = seed) -> Result:
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(cluster.kubeconfig),
            "TEMPORAL_ADDRESS": temporal.address,
            "TEMPORAL_NAMESPACE": temporal.namespace,
            "GASTOWN_TASK_QUEUE": task_queue,
        }
        env.pop("GASTOWN_NAME_SEED", None)
        if seed is not None:
            env["GASTOWN_NAME_SEED"] = seed
        proc = await asyncio.create_subprocess_exec(
            KUBECTL,
            "gt",
            *args,
            "-n",
            namespace,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())

    return run


@pytest.fixture
def gt(
    cluster: Cluster, temporal: TemporalDev, worker: Worker, namespace: str
) -> Callable[..., Awaitable[Result]]:
    """`kubectl gt …` with our worker on its queue, generated names seeded with 1."""
    return gt_runner(cluster, temporal, worker.task_queue, namespace, seed="1")


async def wait_until(
    predicate: Callable[[], Awaitable[Any]], timeout: float, what: str, every: float = 0.2
) -> Any:
    """Poll a condition with a deadline, yielding to the event loop in between."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


async def apply_and_start(
    temporal_client: Client,
    kube: ClusterKube,
    task_queue: str,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    kubectl: Cluster | None = None,
) -> Any:
    """A polecat the way `kubectl apply` plus the watcher make one: the CR first (through the
    real kubectl binary when `kubectl` is given), then its workflow with the polecat's
    identity (production's own start). Returns the handle."""
    import json
    from datetime import datetime

    from gastown.api.crd import API_VERSION
    from gastown.api.identity import polecat_workflow_id
    from gastown.operator.workflow import Workflows
    from gastown.workflows.messages import PolecatResult

    body = {
        "apiVersion": API_VERSION,
        "kind": "Polecat",
        "metadata": {"name": name},
        "spec": {"desiredState": "Working", "agent": "command", **spec},
    }
    if kubectl is None:
        obj = await kube.create_polecat(namespace, body)
    else:
        args = ("apply", "-n", namespace, "-f", "-")
        made = await asyncio.to_thread(kubectl.kubectl, *args, stdin=json.dumps(body))
        assert made.returncode == 0, made.stderr
        obj = await kube.get_polecat(namespace, name)
    meta = obj["metadata"]
    created = datetime.fromisoformat(str(meta["creationTimestamp"]).replace("Z", "+00:00"))
    await Workflows(temporal_client, task_queue).start(namespace, name, meta["uid"], created)
    return temporal_client.get_workflow_handle(
        polecat_workflow_id(namespace, name), result_type=PolecatResult
    )


async def refused(
    temporal_client: Client,
    worker: Worker,
    kube: ClusterKube,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    kubectl: Cluster | None = None,
) -> str:
    """Apply and start a polecat the worker must refuse: it ends Failed (InvalidSpec) and no
    pod was ever made for it. Returns its status message."""
    from temporalio.client import WorkflowFailureError

    from gastown.api.identity import LABEL_POLECAT

    handle = await apply_and_start(
        temporal_client, kube, worker.task_queue, namespace, name, spec, kubectl
    )
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert "InvalidSpec" in str(err.value.cause)
    status = (await kube.get_polecat(namespace, name))["status"]
    assert status["phase"] == "Failed"
    assert await kube.pods(namespace, f"{LABEL_POLECAT}={name}") == []
    return str(status["message"])
