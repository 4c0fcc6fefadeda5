"""`kubectl gt rig …` and `kubectl gt polecat list|status` through the real kubectl."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import Result


async def test_rig_lifecycle(
    gt: Callable[..., Awaitable[Result]], kubectl: Callable[..., Any], origin: Path
) -> None:
    name = f"rig-{secrets.token_hex(3)}"
    created = await gt(
        "rig",
        "create",
        name,
        "--git-url",
        f"file://{origin}",
        "--prefix",
        "dm",
        "--theme",
        "minerals",
        "--max-polecats",
        "3",
        "--api-key-secret",
        "anthropic:api-key",
    )
    assert created.code == 0, created.err
    assert created.out.strip() == f"Rig {name} created"
    again = await gt("rig", "create", name, "--git-url", f"file://{origin}", "--prefix", "dm")
    assert again.code == 1
    assert "already exists" in again.err

    listed = json.loads((await gt("rig", "list", "-o", "json")).out)
    assert isinstance(listed, list)
    mine = next(r for r in listed if r["metadata"]["name"] == name)
    assert mine["spec"]["settings"]["maxPolecats"] == 3
    assert mine["spec"]["settings"]["polecatDefaults"]["apiKeySecretRef"] == {
        "name": "anthropic",
        "key": "api-key",
    }
    table = (await gt("rig", "list")).out.splitlines()
    assert table[0].split() == ["NAME", "PREFIX", "PHASE", "POLECATS", "AGE"]
    assert f"rig/{name}" in (await gt("rig", "list", "-o", "name")).out

    status = await gt("rig", "status", name)
    assert status.code == 0
    assert "Name theme:    minerals" in status.out
    assert "Max polecats:  3" in status.out
    assert yaml.safe_load((await gt("rig", "status", name, "-o", "yaml")).out)["kind"] == "Rig"

    assert (await gt("rig", "delete", name)).out.strip() == f"Rig {name} deleted"
    gone = await gt("rig", "status", name)
    assert gone.code == 1
    assert "not found" in gone.err


async def test_bad_rig_is_refused_and_nothing_created(
    gt: Callable[..., Awaitable[Result]], kubectl: Callable[..., Any]
) -> None:
    for args, needle in [
        (["--git-url", "https://u:p@github.com/o/r.git", "--prefix", "dm"], "--git-url"),
        (["--git-url", "git@github.com:o/r.git", "--prefix", "DM"], "--prefix"),
        (
            ["--git-url", "git@github.com:o/r.git", "--prefix", "dm", "--max-polecats", "0"],
            "--max-polecats",
        ),
        (
            ["--git-url", "git@github.com:o/r.git", "--prefix", "dm", "--api-key-secret", "x"],
            "--api-key-secret",
        ),
    ]:
        result = await gt("rig", "create", "bad-rig", *args)
        assert result.code == 2, (args, result.err)
        assert needle in result.err
        assert "Traceback" not in result.err
    assert kubectl("get", "rig", "bad-rig").returncode != 0


async def test_polecat_list_and_status(
    gt: Callable[..., Awaitable[Result]], rig_factory: Callable[..., str], namespace: str
) -> None:
    rig = rig_factory()
    done = await gt("sling", "dm-0007", rig, "--name", "quartz", "--agent", "command", "--wait")
    assert done.code == 0, done.err
    table = (await gt("polecat", "list")).out.splitlines()
    assert table[0].split() == ["NAME", "RIG", "PHASE", "BEAD"]
    assert table[1].split() == ["quartz", rig, "Done", "dm-0007"]
    wide = (await gt("polecat", "list", rig, "-o", "wide")).out.splitlines()
    assert wide[0].split() == ["NAME", "RIG", "PHASE", "BEAD", "POD", "BRANCH", "WORKFLOW", "AGE"]
    everywhere = (await gt("polecat", "list", "-A")).out.splitlines()
    assert everywhere[0].split()[0] == "NAMESPACE"
    assert any(line.split()[:2] == [namespace, "quartz"] for line in everywhere[1:])
    as_json = json.loads((await gt("polecat", "list", "-o", "json")).out)
    assert [p["metadata"]["name"] for p in as_json] == ["quartz"]
    status = (await gt("polecat", "status", f"{rig}/quartz")).out
    assert "Phase:         Done" in status
    assert "Outcome:       completed" in status
    assert "Branch:        feature/dm-0007" in status
    assert "Ready=True" in status
    wrong = await gt("polecat", "status", "other-rig/quartz")
    assert wrong.code == 1
    assert f"belongs to rig '{rig}'" in wrong.err
