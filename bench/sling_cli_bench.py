"""`kubectl gt sling` (no --wait) as a user runs it: the whole process, wall and CPU time.

    .venv/bin/python bench/sling_cli_bench.py [--runs 15]

Starts the dev environment (`kubectl gt dev up` under a state directory of its own: sandbox
cluster, Temporal dev server, worker, watcher), applies a rig whose polecats sleep, then times,
one after another and each as a fresh process:

- `python -c pass` (the interpreter's own start-up),
- `kubectl get polecats` (the real kubectl: the baseline a kubectl user knows),
- `kubectl gt sling <bead> <rig>` — the Polecat created and its workflow started.

Prints median wall and CPU (user+sys of the child) per command and the ratio to kubectl in
the same run; the machine is noisy, the ratio travels better than the seconds. Stops what it
started.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from gastown.sandbox.temporal_dev import free_port

BIN = Path(sys.executable).parent
KUBECTL = os.environ.get("GASTOWN_TEST_KUBECTL", "/usr/bin/kubectl")


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    gt = str(BIN / "kubectl-gt")
    with tempfile.TemporaryDirectory(prefix="gastown-bench-") as tmp:
        state = Path(tmp) / "dev"
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        port, ui = free_port(), free_port()
        up = [gt, "dev", "up", "--state-dir", str(state), "--temporal-port", str(port)]
        subprocess.run([*up, "--ui-port", str(ui)], env=env, check=True, capture_output=True)
        try:
            env["KUBECONFIG"] = str(state / "sandbox" / "kubeconfig")
            env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{port}"
            rig = {
                "apiVersion": "gastown.gastown.io/v1alpha1",
                "kind": "Rig",
                "metadata": {"name": "bench"},
                "spec": {
                    "gitURL": f"file://{tmp}/origin.git",
                    "beadsPrefix": "bn",
                    "settings": {
                        "maxPolecats": 100,
                        "polecatDefaults": {"agentConfig": {"command": ["sleep", "600"]}},
                    },
                },
            }
            subprocess.run(
                [KUBECTL, "apply", "-f", "-"],
                input=yaml.safe_dump(rig),
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            commands = {
                "python -c pass": lambda i: [sys.executable, "-c", "pass"],
                "kubectl get polecats (baseline)": lambda i: [KUBECTL, "get", "polecats"],
                "kubectl gt sling (no --wait)": lambda i: [
                    gt,
                    "sling",
                    f"bn-{i:04d}",
                    "bench",
                    "--name",
                    f"bench-{i}",
                    "--agent",
                    "command",
                ],
            }
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for name, argv in commands.items():  # warm the page cache
                run(argv(10_000 + len(name)), env)
            for i in range(args.runs):  # interleaved, so drift hits every command alike
                for name, argv in commands.items():
                    samples[name].append(run(argv(i), env))
        finally:
            subprocess.run([gt, "dev", "down", "--state-dir", str(state)], env=env, check=False)
    base = statistics.median(w for w, _ in samples["kubectl get polecats (baseline)"])
    print(f"runs: {args.runs}\n")
    print("| command | median wall s | median CPU s | wall vs kubectl |\n|---|---|---|---|")
    for name, values in samples.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"| `{name}` | {wall:.3f} | {cpu:.3f} | {wall / base:.1f}x |")


if __name__ == "__main__":
    main()
