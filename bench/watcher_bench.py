"""Watcher benchmark: pod phase change → Polecat status.pod latency; watcher RSS and CPU.

    .venv/bin/python bench/watcher_bench.py --polecats 2000 --changes 300

A sandbox cluster runs in this process without its pod runner (kubelet off), so the bench
itself moves pods between phases by patching pods/status, exactly what a kubelet sends. The
watcher is the real `gastown-operator watcher` process (no Lease, Temporal address unused:
every polecat already carries its workflow annotation and finalizer, so the watcher's only
work is the mirror). Latency is measured from the bench's patch returning to a watch on the
Polecats delivering status.pod with the new phase. RSS and CPU come from /proc of the watcher.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from gastown.api.identity import ANNOTATION_WORKFLOW_ID, LABEL_ATTEMPT, LABEL_POLECAT
from gastown.sandbox.cluster import Sandbox, SandboxConfig
from gastown.sandbox.temporal_dev import free_port

REPO = Path(__file__).resolve().parent.parent
G, V = "gastown.gastown.io", "v1alpha1"
NS = "bench"
PHASES = ("Running", "Pending")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory: VmRSS, or its anonymous part (RssAnon: the heap, which our code
    controls; the rest is mapped files, mostly shared libraries, whose resident share varies
    with the page cache)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--polecats", type=int, default=2000)
    ap.add_argument("--changes", type=int, default=300)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="watcher-bench-"))
    sandbox = Sandbox(
        SandboxConfig(
            state_dir=tmp,
            crds=tuple(sorted((REPO / "deploy" / "crds").glob("*.yaml"))),
            kubelet=False,
            history=200_000,
        )
    ).start_in_thread()
    api = config.new_client_from_config(str(sandbox.kubeconfig_path))
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    t0 = time.monotonic()
    for i in range(args.polecats):
        name = f"pc-{i}"
        custom.create_namespaced_custom_object(G, V, NS, "polecats", {
            "apiVersion": f"{G}/{V}", "kind": "Polecat",
            "metadata": {"name": name, "finalizers": ["gastown.gastown.io/workflow"],
                         "annotations": {ANNOTATION_WORKFLOW_ID: f"polecat/{NS}/{name}"}},
            "spec": {"rig": "bench", "beadID": f"b-{i}", "desiredState": "Working"},
        })  # fmt: skip
        core.create_namespaced_pod(NS, {
            "metadata": {"name": f"polecat-{name}-1",
                         "labels": {LABEL_POLECAT: name, LABEL_ATTEMPT: "1"}},
            "spec": {"containers": [{"name": "claude", "image": "bench:1"}]},
        })  # fmt: skip
    print(f"created {args.polecats} polecats and pods in {time.monotonic() - t0:.1f}s")

    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig_path)}
    log = (tmp / "watcher.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gastown-operator"), "watcher",
         "--no-leader-election", "--temporal-address", f"127.0.0.1:{free_port()}",
         "--log-level", "WARNING"],
        env=env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        return run(args, proc, core, custom)
    finally:
        proc.terminate()
        proc.wait(30)
        sandbox.stop_thread()


def run(args: Any, proc: subprocess.Popen[bytes], core: Any, custom: Any) -> int:
    seen: dict[str, tuple[str, float]] = {}
    cond = threading.Condition()
    done = threading.Event()

    def follow() -> None:
        rv = custom.list_namespaced_custom_object(G, V, NS, "polecats")["metadata"][
            "resourceVersion"
        ]
        while not done.is_set():
            try:
                for ev in watch.Watch().stream(
                    custom.list_namespaced_custom_object, G, V, NS, "polecats",
                    resource_version=rv, timeout_seconds=60,
                ):  # fmt: skip
                    obj = ev["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    phase = ((obj.get("status") or {}).get("pod") or {}).get("phase")
                    if phase:
                        with cond:
                            seen[obj["metadata"]["name"]] = (phase, time.monotonic())
                            cond.notify_all()
            except Exception as exc:  # a cut stream: resume from the last resourceVersion
                print(f"bench watch restarted: {exc}", file=sys.stderr)

    threading.Thread(target=follow, daemon=True).start()
    # Settle: the initial listing mirrors every pod's Pending phase.
    t0 = time.monotonic()
    with cond:
        cond.wait_for(lambda: len(seen) >= args.polecats, timeout=300)
    print(f"initial mirror of {len(seen)} pods in {time.monotonic() - t0:.1f}s")
    idle_cpu0, idle_t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(10)
    idle_cpu = (cpu_seconds(proc.pid) - idle_cpu0) / (time.monotonic() - idle_t0)
    rss_idle, anon_idle = rss_mb(proc.pid), rss_mb(proc.pid, "RssAnon")

    latencies: list[float] = []
    cpu0, w0 = cpu_seconds(proc.pid), time.monotonic()
    peak = rss_idle
    for i in range(args.changes):
        name = f"pc-{(i * 7) % args.polecats}"
        current = seen[name][0]
        target = PHASES[0] if current != PHASES[0] else PHASES[1]
        core.patch_namespaced_pod_status(f"polecat-{name}-1", NS, {"status": {"phase": target}})
        start = time.monotonic()
        with cond:
            ok = cond.wait_for(lambda n=name, t=target: seen[n][0] == t, timeout=10)
        if not ok:
            print(f"change {i}: no mirror within 10s", file=sys.stderr)
            continue
        latencies.append(seen[name][1] - start)
        if i % 50 == 0:
            peak = max(peak, rss_mb(proc.pid))
    busy_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - w0)
    done.set()
    peak = max(peak, rss_mb(proc.pid))
    ms = [x * 1000 for x in latencies]
    print(f"changes: {len(ms)}/{args.changes}")
    print(f"latency ms: p50 {statistics.median(ms):.1f}  p95 {pct(ms, 0.95):.1f}  "
          f"max {max(ms):.1f}")  # fmt: skip
    print(f"watcher RSS MB: idle {rss_idle:.1f}  peak {peak:.1f}  (anonymous idle {anon_idle:.1f})")
    print(
        f"watcher CPU: idle {idle_cpu * 100:.1f}%  during changes {busy_cpu * 100:.1f}% of a core"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
