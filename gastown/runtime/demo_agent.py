"""The built-in DEMO agent: a stand-in for Claude Code when no credentials are at hand.

It is not an AI. It reads the prompt the runtime prepared, writes a short note about the bead
into GASTOWN_DEMO.md in the checkout and exits; the runtime then commits, pushes and reports
exactly as it does for Claude Code. `make demo` and the end-to-end tests use it so the whole
dispatch path runs on a laptop. DEMO_AGENT_MODE picks a behaviour to demonstrate:

- `edit` (default): change a file (the run completes with a commit);
- `noop`: change nothing (outcome no_changes);
- `fail`: exit 1 (outcome agent_failed);
- `sleep:<seconds>`: print a heartbeat line every second for that long, then edit (for
  watching a polecat work, nuking it, or running into its deadline).

For convoys, whose polecats share one rig's settings, two more variables act per bead:
DEMO_AGENT_FAIL_BEADS (bead IDs, comma or space separated) fail whatever the mode, and
DEMO_AGENT_FAIL_FIRST_BEADS fail only the bead's first polecat (a convoy's retries are
`<convoy>-<bead>-r<n>`), so a retry policy can be seen to work. DEMO_AGENT_COST is the
cost it reports (Claude Code's `total_cost_usd`), so a convoy's cost cap can be seen to work.

The settings come through the polecat's `agentConfig.env`, where `GT_*` names are reserved for
the runtime (gastown/api/envnames.py); the old `GT_DEMO_AGENT_*` spellings are still read when
set directly in the process's environment (the runtime's own tests).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path


def _say(kind: str, **fields: object) -> None:
    # Lines shaped like Claude Code's stream-json, so logs read the same way.
    print(json.dumps({"type": kind, "agent": "gastown-demo", **fields}), flush=True)


def _setting(name: str, default: str = "") -> str:
    """`DEMO_AGENT_<name>`, else the older `GT_DEMO_AGENT_<name>`, else `default`."""
    value = os.environ.get(f"DEMO_AGENT_{name}")
    if value is None:
        value = os.environ.get(f"GT_DEMO_AGENT_{name}", default)
    return value


def _beads(name: str) -> set[str]:
    return set(_setting(name).replace(",", " ").split())


def _cost() -> float:
    try:
        return max(0.0, float(_setting("COST", "0")))
    except ValueError:
        return 0.0


def main() -> int:
    mode = _setting("MODE", "edit")
    bead = os.environ.get("GT_BEAD_ID", "")
    retry = re.search(r"-r[0-9]+$", os.environ.get("GT_POLECAT", "")) is not None
    if bead in _beads("FAIL_BEADS") or (bead in _beads("FAIL_FIRST_BEADS") and not retry):
        mode = "fail"
    prompt_file = os.environ.get("GT_PROMPT_FILE")
    prompt = Path(prompt_file).read_text() if prompt_file else ""
    _say("system", subtype="init", mode=mode, bead=bead)
    if mode.startswith("sleep:"):
        seconds = float(mode.split(":", 1)[1])
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            _say("assistant", message="working…")
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        mode = "edit"
    if mode == "fail":
        _say(
            "result",
            subtype="error",
            is_error=True,
            total_cost_usd=_cost(),
            result="the demo agent was told to fail",
        )
        return 1
    if mode == "edit":
        note = Path.cwd() / "GASTOWN_DEMO.md"
        first = next((line for line in prompt.splitlines() if line.strip()), bead)
        with note.open("a") as out:
            out.write(f"- {bead}: {first[:200]}\n")
        _say("assistant", message=f"edited {note.name}")
    _say(
        "result",
        subtype="success",
        is_error=False,
        num_turns=1,
        total_cost_usd=_cost(),
        result=f"demo agent finished ({mode})",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
