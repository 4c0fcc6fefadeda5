"""Read one bead from the repository's beads data (.beads/issues.jsonl).

Beads (github.com/steveyegge/beads) keeps issues as JSON Lines, one issue object per line with
fields such as id, title, description, design, acceptance_criteria, notes, status, priority,
issue_type. Older repositories use .beads/beads.jsonl. A later line for the same id supersedes
an earlier one, so the last match wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BEADS_FILES = (".beads/issues.jsonl", ".beads/beads.jsonl")


@dataclass(frozen=True)
class Bead:
    id: str
    title: str = ""
    description: str = ""
    design: str = ""
    acceptance_criteria: str = ""
    notes: str = ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def find_bead(workspace: Path, bead_id: str) -> Bead | None:
    if not bead_id:
        return None
    found: Bead | None = None
    for name in BEADS_FILES:
        path = workspace / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as handle:
            for raw in handle:
                line = raw.strip()
                if not line:
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(item, dict) or item.get("id") != bead_id:
                    continue
                found = Bead(
                    id=bead_id,
                    title=_text(item.get("title")),
                    description=_text(item.get("description")),
                    design=_text(item.get("design")),
                    acceptance_criteria=_text(item.get("acceptance_criteria")),
                    notes=_text(item.get("notes")),
                )
        if found is not None:
            return found
    return found
