"""A value with a trailing newline is a usage error, as the API server would say.

Python's `$` matches before a final newline, so a check written as `re.search("^...$")`
would let "furiosa\\n" through to the cluster. KUBECONFIG points nowhere: a value that got
past the client-side checks would fail differently (exit 1, cannot reach the cluster).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_sling_usage import assert_usage_error

RIG = ["rig", "create", "demo-rig", "--git-url", "git@github.com:o/r.git", "--prefix", "dm"]

BAD = [
    (["sling", "dm-1", "demo-rig", "--name", "furiosa\n"], "--name"),
    (["sling", "dm-1\n", "demo-rig"], "bead"),
    (["sling", "dm-1", "demo-rig\n"], "rig"),
    (["sling", "dm-1", "demo-rig", "--work-branch", "main\n"], "--work-branch"),
    (["sling", "dm-1", "demo-rig", "--image", "busybox\n"], "--image"),
    (["rig", "create", "furiosa\n", *RIG[3:]], "name"),
    ([*RIG[:4], "git@github.com:o/r.git\n", *RIG[5:]], "--git-url"),
    ([*RIG[:6], "dm\n"], "--prefix"),
    ([*RIG, "--base-branch", "main\n"], "--base-branch"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[repr(" ".join(a)) for a, _ in BAD])
def test_trailing_newline_is_a_usage_error(args: list[str], needle: str, tmp_path: Path) -> None:
    assert_usage_error(args, needle, tmp_path)
