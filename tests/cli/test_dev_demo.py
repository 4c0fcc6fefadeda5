"""`make demo`'s two commands, as a newcomer runs them: `dev up`, then `dev demo`."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gastown.sandbox.temporal_dev import free_port
from tests import promtext

GT = str(Path(sys.executable).with_name("kubectl-gt"))


def gt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GT, *args], capture_output=True, text=True, timeout=300, check=False)


def finished_done(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own localhost
        samples = promtext.parse(response.read().decode())
    return promtext.total(samples, name, rig="demo-rig", phase="Done")


def logs_of(state: Path) -> str:
    """The tails of `dev up`'s component logs (worker, watcher, sandbox): what a failed demo
    says about why, the pods' output included (the sandbox runs them)."""
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}"
        for log in sorted((state / "logs").glob("*.log"))
    )


def test_dev_demo_slings_a_bead_end_to_end(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "dev")]
    tport, uport = free_port(), free_port()
    up = gt("dev", "up", *state, "--temporal-port", str(tport), "--ui-port", str(uport))
    try:
        assert up.returncode == 0, up.stderr
        assert "worker: running" in gt("dev", "status", *state).stdout
        demo = gt("dev", "demo", *state)
        assert demo.returncode == 0, (demo.stdout, demo.stderr, logs_of(tmp_path / "dev"))
        out = demo.stdout
        assert "the built-in DEMO agent (not an AI)" in out
        name = re.search(r"^Polecat (\S+) created for bead dm-0001 in rig demo-rig$", out, re.M)
        assert name, out
        assert re.search(r"^polecat: +\S+ \(Done, completed\)$", out, re.M), out
        commit = re.search(r"^commit: +([0-9a-f]{40})$", out, re.M)
        assert commit, out
        origin = tmp_path / "dev" / "demo" / "origin.git"
        head = subprocess.run(
            ["git", "--git-dir", str(origin), "rev-parse", "refs/heads/feature/dm-0001"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert commit.group(1) == head
        link = f"http://127.0.0.1:{uport}/namespaces/default/workflows/polecat%2Fdefault%2F"
        assert link + name.group(1) in out
        # `dev status` names the worker's and the watcher's metrics; both show the demo's Done.
        status = gt("dev", "status", *state).stdout
        urls = dict(re.findall(r"^(worker|watcher) metrics: (http://\S+/metrics)$", status, re.M))
        assert set(urls) == {"worker", "watcher"}, status
        assert finished_done(urls["worker"], "gastown_polecats_finished_total") == 1
        deadline = time.monotonic() + 90
        while finished_done(urls["watcher"], "gastown_polecats") != 1:
            assert time.monotonic() < deadline, "the watcher's gauge never showed the Done"
            time.sleep(0.2)
    finally:
        assert gt("dev", "down", *state).returncode == 0
