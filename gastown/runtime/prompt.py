"""The agent's prompt: what to do (bead, task or bare ID), where, and how to hand it back.

The prompt is plain text handed to the agent on stdin and in a file, never through a shell, so
quotes, `$( )`, backticks and newlines in a bead reach the agent exactly as written.
"""

from __future__ import annotations

from pathlib import Path

from gastown.runtime.beads import find_bead
from gastown.runtime.config import Settings


def build_prompt(settings: Settings) -> str:
    workspace = settings.workspace
    bead = find_bead(workspace, settings.bead_id)
    task = ""
    if settings.task_file is not None and settings.task_file.is_file():
        task = settings.task_file.read_text(encoding="utf-8", errors="replace").strip()
    who = f"polecat {settings.polecat}" if settings.polecat else "a polecat"
    rig = f" of rig {settings.rig}" if settings.rig else ""
    parts = [f"You are {who}{rig}, working in the git repository at {workspace}."]
    if bead is not None:
        parts.append(f"# Bead {bead.id}: {bead.title}".rstrip(": "))
        for heading, body in (
            ("", bead.description),
            ("## Design", bead.design),
            ("## Acceptance criteria", bead.acceptance_criteria),
            ("## Notes", bead.notes),
        ):
            if body.strip():
                parts.append(f"{heading}\n\n{body.strip()}".strip())
        if task:
            parts.append(f"## Additional instructions\n\n{task}")
    elif task:
        heading = f"# Task for bead {settings.bead_id}" if settings.bead_id else "# Task"
        parts.append(f"{heading}\n\n{task}")
    else:
        parts.append(
            f"# Bead {settings.bead_id}\n\nWork on bead {settings.bead_id}; its description "
            "was not found in .beads/issues.jsonl, so look for it in the repository."
        )
    if (workspace / "CLAUDE.md").is_file():
        parts.append(
            "The repository has a CLAUDE.md with its conventions: read it before changing code."
        )
    label = settings.bead_id or "the task"
    parts.append(
        "## When you are done\n\n"
        f"Commit your work with git on the current branch ({settings.work_branch}), with commit "
        f"messages that name {label}. Do not push and do not open a pull request: the runtime "
        "pushes the branch and opens the pull request after you finish."
    )
    return "\n\n".join(parts) + "\n"


def write_prompt(home: Path, text: str) -> Path:
    """Store the prompt outside the work tree (so it is never committed)."""
    directory = home / ".gt-polecat"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "prompt.md"
    path.write_text(text, encoding="utf-8")
    return path
