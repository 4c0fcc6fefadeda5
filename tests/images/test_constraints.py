"""deploy/images/constraints.txt pins every runtime dependency the images install: a
dependency added to pyproject without a pin fails the operator image's `pip check` only when
the image is next built, so catch it here first (regenerate with deploy/images/lock.sh)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def test_every_runtime_dependency_is_pinned_for_the_images() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    lines = (ROOT / "deploy/images/constraints.txt").read_text().splitlines()
    pinned = {_name(line) for line in lines if "==" in line and not line.startswith("#")}
    assert wanted - pinned == set(), "run deploy/images/lock.sh"
