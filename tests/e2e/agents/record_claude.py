#!/usr/bin/env python3
"""A stand-in for the Claude Code CLI (the rig's agentConfig.command) in the credentials acceptance.

It records what the pod gave it — its environment and every file under $HOME, where the
runtime installed the credentials document from the polecat's own Secret — in AUTH_SEEN.txt in
the checkout, which the runtime commits and pushes: the test reads, from the pushed branch,
which access token the pod got and that no refresh token was anywhere it could look.
"""

import json
import os
import pathlib

home = pathlib.Path(os.environ["HOME"])
texts = [json.dumps(dict(os.environ), sort_keys=True)]
for path in sorted(home.rglob("*")):
    if path.is_file():
        texts.append(f"== {path.relative_to(home)}\n{path.read_text(errors='replace')}")
pathlib.Path("AUTH_SEEN.txt").write_text("\n".join(texts))
print(json.dumps({"type": "result", "subtype": "success", "is_error": False,
                  "result": "recorded", "num_turns": 1, "total_cost_usd": 0}))  # fmt: skip
