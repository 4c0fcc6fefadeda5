"""The built-in DEMO agent: a stand-in for Claude Code when no credentials are at hand.

It is not an AI. It reads the prompt the runtime prepared, writes a short note about the bead
into GASTOWN_DEMO.md in the checkout and exits; the runtime then commits, pushes and reports
exactly as it does for Claude Code. `make demo` and the end-to-end tests use it so the whole
dispatch path runs on a laptop. GT_DEMO_AGENT_MODE picks a behaviour to demonstrate:

- `edit` (default): change a file (the run completes with a commit);
- `noop`: change nothing (outcome no_changes);
- `fail`: exit 1 (outcome agent_failed);
- `sleep:<seconds>`: print a heartbeat line every second for that long, then edit (for
  watching a polecat work, nuking it, or running into its deadline).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _say(kind: str, **fields: object) -> None:
    # Lines shaped like Claude Code's stream-json, so logs read the same way.
    print(json.dumps({"type": kind, "agent": "gastown-demo", **fields}), flush=True)


def main() -> int:
    mode = os.environ.get("GT_DEMO_AGENT_MODE", "edit")
    bead = os.environ.get("GT_BEAD_ID", "")
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
        _say("result", subtype="error", is_error=True, result="the demo agent was told to fail")
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
        total_cost_usd=0.0,
        result=f"demo agent finished ({mode})",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
