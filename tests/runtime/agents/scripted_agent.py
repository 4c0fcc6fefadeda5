"""A stand-in coding agent for `GT_AGENT=command` tests, driven by the AGENT_MODE env var.

It is a separate program run by gt-polecat exactly like a custom agent image would be: it
reads its prompt from stdin and from GT_PROMPT_FILE and works in its current directory.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def commit(message: str) -> None:
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], check=True)


def main() -> int:
    mode = os.environ.get("AGENT_MODE", "commit")
    stdin_prompt = sys.stdin.read()
    file_prompt = Path(os.environ["GT_PROMPT_FILE"]).read_text()
    print('{"type":"system","subtype":"init","session_id":"scripted-1"}', flush=True)
    out = os.environ.get("AGENT_CAPTURE_DIR")
    if out:
        Path(out, "stdin.txt").write_text(stdin_prompt)
        Path(out, "file.txt").write_text(file_prompt)
        Path(out, "argv.txt").write_text("\n".join(sys.argv[1:]))
        Path(out, "env.txt").write_text("\n".join(sorted(os.environ)))
    if mode in ("commit", "fail-after-commit"):
        Path("feature.txt").write_text("work done\n")
        commit(f"{os.environ.get('GT_WORK_BRANCH', '')}: add feature")
    elif mode == "leave":
        Path("leftover.txt").write_text("uncommitted\n")
    elif mode == "bigline":
        sys.stdout.write('{"type":"assistant","blob":"' + "x" * (5 << 20) + '"}\n')
        Path("feature.txt").write_text("work done\n")
        commit("big line")
    elif mode == "leak":
        # Prints what it could read: a mounted token (LEAK_FILE) and a key (LEAK_TEXT).
        leaked = Path(os.environ["LEAK_FILE"]).read_text().strip() + " " + os.environ["LEAK_TEXT"]
        print(f"found {leaked}", flush=True)
        print(f"stderr: Authorization: Bearer {leaked}", file=sys.stderr, flush=True)
        Path("feature.txt").write_text("work done\n")
        commit("leak")
        print(
            '{"type":"result","subtype":"success","is_error":false,"num_turns":1,'
            '"session_id":"scripted-1","result":"done; the token is ' + leaked + '"}',
            flush=True,
        )
        return 0
    elif mode == "hang":
        time.sleep(3600)
    elif mode == "leave-then-hang":
        Path("leftover.txt").write_text("partial\n")
        Path(out or ".", "hanging").write_text("yes")
        time.sleep(3600)
    elif mode == "busy":
        # Never quiet, never done: partial work, then a line every 0.2 s.
        Path("partial.txt").write_text("partial\n")
        while True:
            print('{"type":"assistant","message":"still working"}', flush=True)
            time.sleep(0.2)
    elif mode == "hang-ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
    print(
        '{"type":"result","subtype":"success","is_error":false,"num_turns":3,'
        '"total_cost_usd":0.25,"session_id":"scripted-1","result":"all done"}',
        flush=True,
    )
    if mode.startswith("fail"):
        print("agent exploded", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
