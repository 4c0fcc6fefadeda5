"""The sandbox's kubelet and scheduler for its one node, `sandbox-node`.

Scheduling binds pods whose requests fit the node's capacity (else Pending, Unschedulable);
each bound pod gets a `PodWorker` (podworker.py) that runs its containers with the node's
runtime: local processes (hostprocess.py, the default) or podman containers from the real
images (containerrun.py, `SandboxConfig.containers`). Scripted outcomes stand in for what a
laptop cannot produce: images matching `pull_failing_images` never pull, malformed references
are InvalidImageName (both in podworker.py), and `evict()` / `lose_node()` simulate
eviction and node loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from typing import TYPE_CHECKING, Any

from gastown.sandbox import clock
from gastown.sandbox.podworker import PodWorker, condition
from gastown.sandbox.quantity import parse_quantity
from gastown.sandbox.runtime import Runtime
from gastown.sandbox.store import POD_KEY, Store

if TYPE_CHECKING:
    from gastown.sandbox.cluster import SandboxConfig
    from gastown.sandbox.server import ApiServer

JSON = dict[str, Any]
log = logging.getLogger(__name__)


def _resource_sum(pod: JSON) -> tuple[float, float]:
    """(cpu cores, memory bytes) requested; limits stand in for absent requests."""
    cpu = mem = 0.0
    for c in pod["spec"].get("containers", []):
        res = c.get("resources") or {}
        req = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        cpu += parse_quantity(req.get("cpu", 0))
        mem += parse_quantity(req.get("memory", 0))
    return cpu, mem


class Kubelet:
    """Schedules pods onto the one sandbox node and runs them."""

    def __init__(self, store: Store, config: SandboxConfig) -> None:
        self.store = store
        self.config = config
        self.root = config.state_dir
        self.node = config.node_name
        self.workers: dict[str, PodWorker] = {}
        self.unschedulable: dict[str, JSON] = {}
        self.node_lost = False
        self.api_port = 0
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._capacity = (parse_quantity(config.node_cpu), parse_quantity(config.node_memory))
        self._runtimes: dict[bool, Runtime] = {}

    @property
    def runtime(self) -> Runtime:
        """The runtime new pods get. Chosen by `config.containers` when a pod starts, so a test
        may switch the session sandbox to container mode (and back) between pods."""
        key = self.config.containers
        if key not in self._runtimes:
            if key:
                from gastown.sandbox.containerrun import ContainerRuntime

                self._runtimes[key] = ContainerRuntime(self.config)
            else:
                from gastown.sandbox.hostprocess import ProcessRuntime

                self._runtimes[key] = ProcessRuntime()
        return self._runtimes[key]

    def _rt(self, key: tuple[str, str]) -> Any:
        rt = self.store.registry.by_key(key)
        assert rt is not None
        return rt

    async def start(self) -> None:
        check = getattr(self.runtime, "check", None)
        if check is not None:
            await check()  # container mode: podman must work here, or the sandbox says why
        self._register_node(ready=True)
        self.store.pod_deleter = self._graceful_delete
        watcher = self.store.watch(self._rt(POD_KEY), None, None)
        watcher.internal = True
        self._task = asyncio.create_task(self._loop(watcher), name="sandbox-kubelet")

    async def stop(self) -> None:
        self.store.pod_deleter = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for worker in list(self.workers.values()):
            await worker.stop(0)
        await asyncio.gather(*self._background, return_exceptions=True)
        for runtime in self._runtimes.values():
            await runtime.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _register_node(self, ready: bool) -> None:
        rt = self._rt(("", "nodes"))
        cfg = self.config
        status: JSON = {
            "capacity": {
                "cpu": cfg.node_cpu,
                "memory": cfg.node_memory,
                "pods": str(cfg.node_pods),
            },
            "allocatable": {
                "cpu": cfg.node_cpu,
                "memory": cfg.node_memory,
                "pods": str(cfg.node_pods),
            },
            "conditions": [
                condition("Ready", ready, "KubeletReady" if ready else "NodeStatusUnknown")
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0-sandbox",
                "kubeProxyVersion": "v1.32.0-sandbox",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": f"sandbox://{self.runtime.name}",
                "osImage": "gastown sandbox",
                "kernelVersion": os.uname().release,
                "machineID": "sandbox",
                "systemUUID": "00000000-0000-0000-0000-000000000000",
                "bootID": "sandbox",
            },
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }
        if not ready:
            status["conditions"][0]["status"] = "Unknown"
        node = self.store.find(rt, None, self.node)
        if node is None:
            node = self.store.create(
                rt,
                None,
                {"metadata": {"name": self.node, "labels": {"kubernetes.io/hostname": self.node}}},
            )
        self.store.write_status(rt, node, status)

    async def _loop(self, watcher: Any) -> None:
        while True:
            item = await watcher.queue.get()
            if item is None:
                return
            kind, pod = item
            try:
                self._handle(kind, pod)
            except Exception:
                log.exception("sandbox kubelet: handling %s", pod["metadata"].get("name"))

    def _handle(self, kind: str, pod: JSON) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            self.unschedulable.pop(uid, None)
            worker = self.workers.pop(uid, None)
            if worker is not None:
                self._spawn(self._cleanup(worker))
            self._retry_unschedulable()
            return
        if pod["metadata"].get("deletionTimestamp"):
            return
        node = pod["spec"].get("nodeName")
        if not node and uid not in self.workers:
            self._schedule(pod)
        elif node == self.node and uid not in self.workers and not self.node_lost:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.start()

    async def _cleanup(self, worker: PodWorker) -> None:
        """A deleted pod: stop what still runs; its volumes (Secret data!) leave the disk.
        Logs stay until the state directory goes."""
        if not worker.done.is_set():
            await worker.stop(0)
        await worker.runtime.forget(worker)
        shutil.rmtree(worker.dir / "volumes", ignore_errors=True)
        shutil.rmtree(worker.dir / "rootfs", ignore_errors=True)

    def _used(self) -> tuple[float, float, int]:
        cpu = mem = 0.0
        count = 0
        for worker in self.workers.values():
            if worker.done.is_set():
                continue
            c, m = _resource_sum(worker.pod)
            cpu, mem, count = cpu + c, mem + m, count + 1
        return cpu, mem, count

    def _schedule(self, pod: JSON) -> None:
        uid = pod["metadata"]["uid"]
        cpu, mem = _resource_sum(pod)
        used_cpu, used_mem, count = self._used()
        short = []
        if self.node_lost:
            short.append("node(s) had untolerated taint {node.kubernetes.io/unreachable: }")
        if used_cpu + cpu > self._capacity[0]:
            short.append("Insufficient cpu")
        if used_mem + mem > self._capacity[1]:
            short.append("Insufficient memory")
        if count + 1 > self.config.node_pods:
            short.append("Too many pods")
        rt = self._rt(POD_KEY)
        if short:
            self.unschedulable[uid] = pod
            message = f"0/1 nodes are available: {', '.join('1 ' + s for s in short)}."
            status = dict(pod.get("status") or {})
            status["phase"] = "Pending"
            status["conditions"] = [condition("PodScheduled", False, "Unschedulable", message)]
            written = self.store.write_status(rt, pod, status)
            if (
                written is not pod
                and (pod.get("status") or {}).get("conditions") != (status["conditions"])
            ):
                self.event(written, "FailedScheduling", message, "Warning", "default-scheduler")
            return
        self.unschedulable.pop(uid, None)
        current = self.store.find(rt, pod["metadata"]["namespace"], pod["metadata"]["name"])
        if current is None or current["metadata"]["uid"] != uid:
            return
        bound = {**current, "spec": {**current["spec"], "nodeName": self.node}}
        bound["metadata"] = dict(current["metadata"])
        self.store.bind(rt, current, bound)
        self.event(
            bound,
            "Scheduled",
            f"Successfully assigned {pod['metadata']['namespace']}/"
            f"{pod['metadata']['name']} to {self.node}",
            component="default-scheduler",
        )

    def _retry_unschedulable(self) -> None:
        rt = self._rt(POD_KEY)
        for uid, pod in list(self.unschedulable.items()):
            current = self.store.find(rt, pod["metadata"]["namespace"], pod["metadata"]["name"])
            if current is None or current["metadata"]["uid"] != uid:
                self.unschedulable.pop(uid, None)
                continue
            self._schedule(current)

    def pod_finished(self, worker: PodWorker) -> None:
        self._retry_unschedulable()

    def _graceful_delete(self, pod: JSON) -> bool:
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker is None or worker.done.is_set():
            return False  # nothing runs: the object goes now, DELETED cleans up
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)

        async def finish() -> None:
            await worker.stop(grace)
            self.workers.pop(worker.uid, None)
            self.store.finish_pod_deletion(worker.pod)
            shutil.rmtree(worker.dir / "volumes", ignore_errors=True)

        self._spawn(finish())
        return True

    # ------------------------------------------------------------------ events
    def event(
        self,
        pod: JSON,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "kubelet",
    ) -> None:
        meta = pod["metadata"]
        now = clock.rfc3339()
        rt = self._rt(("", "events"))
        with contextlib.suppress(Exception):
            self.store.create(
                rt,
                meta["namespace"],
                {
                    "metadata": {
                        "generateName": f"{meta['name']}.",
                        "namespace": meta["namespace"],
                    },
                    "involvedObject": {
                        "kind": "Pod",
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "apiVersion": "v1",
                    },
                    "reason": reason,
                    "message": message,
                    "type": type_,
                    "source": {"component": component, "host": self.node},
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                    "reportingComponent": component,
                    "reportingInstance": self.node,
                },
            )

    # ------------------------------------------------------------------ chaos
    async def evict(self, namespace: str, name: str, message: str | None = None) -> JSON:
        """Node-pressure eviction: the pod is killed and Failed with reason Evicted."""
        rt = self._rt(POD_KEY)
        pod = self.store.get(rt, namespace, name)
        worker = self.workers.get(pod["metadata"]["uid"])
        message = message or "The node was low on resource: memory. (sandbox: scripted)"
        if worker is not None:
            worker.conditions["DisruptionTarget"] = condition(
                "DisruptionTarget", True, "TerminationByKubelet", message
            )
            worker.reason, worker.message = "Evicted", message
            await worker.stop(
                float(pod["spec"].get("terminationGracePeriodSeconds", 30)), final_phase="Failed"
            )
        self.event(pod, "Evicted", message, "Warning")
        return self.store.get(rt, namespace, name)

    async def lose_node(self) -> list[str]:
        """Node loss: processes die at once, the node goes NotReady and its pods are deleted
        by the taint manager after being marked Failed (reason NodeLost)."""
        self.node_lost = True
        self._register_node(ready=False)
        rt = self._rt(POD_KEY)
        lost = []
        for worker in list(self.workers.values()):
            if worker.done.is_set():
                continue
            worker.conditions["DisruptionTarget"] = condition(
                "DisruptionTarget",
                True,
                "DeletionByTaintManager",
                "Taint manager: deleting due to NoExecute taint",
            )
            worker.reason = "NodeLost"
            pod_name = worker.pod["metadata"]["name"]
            worker.message = f"Node {self.node} which was running pod {pod_name} is unresponsive"
            await worker.stop(0, final_phase="Failed")
            lost.append(worker.pod["metadata"]["name"])
            self.workers.pop(worker.uid, None)
            meta = worker.pod["metadata"]
            with contextlib.suppress(Exception):
                self.store.delete(rt, meta["namespace"], meta["name"], {"gracePeriodSeconds": 0})
        return lost

    def restore_node(self) -> None:
        self.node_lost = False
        self._register_node(ready=True)
        self._retry_unschedulable()

    def register_admin(self, api: ApiServer) -> None:
        async def evict(body: JSON) -> JSON:
            return await self.evict(body["namespace"], body["name"], body.get("message"))

        async def node_loss(body: JSON) -> JSON:
            return {"lost": await self.lose_node()}

        async def node_restore(body: JSON) -> JSON:
            self.restore_node()
            return {"ready": True}

        api.admin_actions.update(
            {"evict": evict, "node-loss": node_loss, "node-restore": node_restore}
        )
