"""The demo agent's per-bead knobs, which the convoy tests rely on to mix outcomes and cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(tmp_path: Path, bead: str, polecat: str, **env: str) -> tuple[int, dict[str, object]]:
    prompt = tmp_path / "prompt.md"
    prompt.write_text("do the thing\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gastown.runtime.demo_agent"],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "GT_BEAD_ID": bead,
            "GT_POLECAT": polecat,
            "GT_PROMPT_FILE": str(prompt),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    last = json.loads(proc.stdout.splitlines()[-1])
    assert last["type"] == "result"
    return proc.returncode, last


@pytest.mark.parametrize(
    ("bead", "polecat", "code"),
    [
        ("dm-2", "wave-dm-2", 1),  # listed: fails
        ("dm-2", "wave-dm-2-r1", 1),  # listed: fails on retries too
        ("dm-3", "wave-dm-3", 0),  # not listed
    ],
)
def test_fail_beads(tmp_path: Path, bead: str, polecat: str, code: int) -> None:
    got, result = run(tmp_path, bead, polecat, GT_DEMO_AGENT_FAIL_BEADS="dm-1, dm-2")
    assert (got, result["is_error"]) == (code, code == 1)


@pytest.mark.parametrize(("polecat", "code"), [("wave-dm-2", 1), ("wave-dm-2-r1", 0)])
def test_fail_first_beads_fail_only_the_first_polecat(
    tmp_path: Path, polecat: str, code: int
) -> None:
    got, _ = run(tmp_path, "dm-2", polecat, GT_DEMO_AGENT_FAIL_FIRST_BEADS="dm-2")
    assert got == code


@pytest.mark.parametrize(("value", "cost"), [("0.25", 0.25), ("nonsense", 0.0), ("-3", 0.0)])
def test_cost_is_reported_on_success_and_failure(tmp_path: Path, value: str, cost: float) -> None:
    _, ok = run(tmp_path, "dm-1", "a", GT_DEMO_AGENT_COST=value)
    _, failed = run(tmp_path, "dm-1", "a", GT_DEMO_AGENT_COST=value, GT_DEMO_AGENT_MODE="fail")
    assert (ok["total_cost_usd"], failed["total_cost_usd"]) == (cost, cost)
