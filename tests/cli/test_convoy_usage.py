"""Malformed convoys are refused before anything is created: exit 2, a message naming the
flag, no traceback, and no Convoy in the cluster afterwards.

Unlike tests/cli/test_sling_usage.py these run against the real sandbox and Temporal dev
server with a real rig, so an input that slipped past the checks would really create a
Convoy (and the check for "no Convoy afterwards" would catch it), not just fail to connect.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.api.identity import convoy_workflow_id
from tests.conftest import KUBECTL, Cluster, TemporalDev

BIN = Path(sys.executable).parent
GROUP, VERSION = "gastown.gastown.io", "v1alpha1"

BAD: list[tuple[list[str], str]] = [
    (["x", "dm-1", "dm-1"], "bead"),  # a bead twice
    (["x", "ISSUE-1"], "bead"),
    (["x", "$(id)"], "bead"),
    (["x", "dm-1", "dm-2\n"], "bead"),
    (["x", "dm-" + "1" * 70], "bead"),
    (["", "dm-1"], "description"),
    (["x", "dm-1", "--rig", "Bad_Rig"], "--rig"),
    (["x", "dm-1", "--rig", "demo;rm"], "--rig"),
    (["x", "dm-1", "--parallelism", "-1"], "--parallelism"),
    (["x", "dm-1", "--parallelism", "1001"], "--parallelism"),
    (["x", "dm-1", "--parallelism", "many"], "--parallelism"),
    (["x", "dm-1", "--failure-policy", "sometimes"], "--failure-policy"),
    (["x", "dm-1", "--max-retries", "2"], "--max-retries"),  # without retry
    (["x", "dm-1", "--failure-policy", "retry", "--max-retries", "11"], "--max-retries"),
    (["x", "dm-1", "--max-cost", "-1"], "--max-cost"),
    (["x", "dm-1", "--max-cost", "0"], "--max-cost"),
    (["x", "dm-1", "--agent", "gpt"], "--agent"),
    (["x", "dm-1", "--notify", "http://hooks.example.com/x"], "--notify"),
    (["x", "dm-1", "--notify", "ftp://example.com"], "--notify"),
    (["x", "dm-1", "--notify", "https://"], "--notify"),
    (["x", "dm-1", "--notify", "https:///path"], "--notify"),
    (["x", "dm-1", "--notify", "https://hooks.example.com/x\n"], "--notify"),
    (["x", "dm-1", "--notify", "http://user:secret@hooks.example.com/x"], "--notify"),
    (["x", "dm-1", "--name", "Bad"], "--name"),
    (["x", "dm-1", "--name", "a_b"], "--name"),
    (["x", "dm-1", "--name", "n" * 64], "--name"),
    (["x", "dm-1", "--name", "ok\n"], "--name"),
    (["x", "dm-1", "--timeout", "soon"], "--timeout"),
    (["x", "dm-1", "-o", "wide"], "-o"),
    (["x", "dm-1", "-o", "name"], "-o"),
    (["x"], "Missing argument"),
]

# (beads, flags, needle): with several beads, flags that shape one polecat are refused.
SLING_BAD: list[tuple[list[str], list[str], str]] = [
    (["dm-1", "dm-2"], ["--name", "furiosa"], "--name"),
    (["dm-1", "dm-2"], ["--task", "do it"], "--task"),
    (["dm-1", "dm-2"], ["--task-file", "/etc/hostname"], "--task-file"),
    (["dm-1", "dm-2"], ["--work-branch", "feature/x"], "--work-branch"),
    (["dm-1", "dm-2"], ["--base-branch", "main"], "--base-branch"),
    (["dm-1", "dm-2"], ["--image", "busybox"], "--image"),
    (["dm-1", "dm-2"], ["--model", "opus"], "--model"),
    (["dm-1", "dm-2"], ["--deadline", "1h"], "--deadline"),
    (["dm-1", "dm-2"], ["--theme", "minerals"], "--theme"),
    (["dm-1", "dm-2"], ["--wait-ready"], "--wait-ready"),
    (["dm-1", "dm-2"], ["--force"], "--force"),
    (["dm-1", "dm-1"], [], "bead"),
    (["dm-1", "BAD"], [], "bead"),
    (["dm-1", "dm-2"], ["--agent", "gpt"], "--agent"),
    (["dm-1", "dm-2"], ["-o", "name"], "-o"),
]


@pytest.fixture(scope="module")
def real_rig(cluster: Cluster) -> Iterator[str]:
    """A Rig that exists, so only the checks stand between a bad flag and a created Convoy."""
    name = f"usage-{secrets.token_hex(3)}"
    doc = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rig",
        "metadata": {"name": name},
        "spec": {"gitURL": "file:///nonexistent/origin.git", "beadsPrefix": "dm"},
    }
    result = cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc))
    assert result.returncode == 0, result.stderr
    yield name
    cluster.kubectl("delete", "rig", name, "--wait=false")


@pytest.fixture
def run_gt(
    cluster: Cluster, temporal: TemporalDev, namespace: str
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`kubectl gt …` through the real kubectl, at the real sandbox and Temporal (a task
    queue no worker serves: a workflow started by mistake would just wait there)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(cluster.kubeconfig),
            "TEMPORAL_ADDRESS": temporal.address,
            "TEMPORAL_NAMESPACE": temporal.namespace,
            "GASTOWN_TASK_QUEUE": "convoy-usage-nobody",
        }
        return subprocess.run(
            [KUBECTL, "gt", *args, "-n", namespace],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def convoys(custom: client.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    found: dict[str, Any] = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "convoys"
    )
    items: list[dict[str, Any]] = found["items"]
    return items


def assert_refused(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def refused(
    run_gt: Callable[..., subprocess.CompletedProcess[str]],
    custom: client.CustomObjectsApi,
    namespace: str,
) -> Callable[..., None]:
    """`refused(needle, *argv)`: `kubectl gt *argv` is a usage error naming `needle`, and no
    Convoy is in the namespace afterwards."""

    def check(needle: str, *args: str) -> None:
        assert_refused(run_gt(*args), needle)
        assert convoys(custom, namespace) == []

    return check


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[repr(" ".join(a)) for a, _ in BAD])
async def test_bad_convoy_create_is_a_usage_error(
    args: list[str], needle: str, real_rig: str, refused: Callable[..., None]
) -> None:
    rig = [] if "--rig" in args else ["--rig", real_rig]
    refused(needle, "convoy", "create", *args, *rig)


@pytest.mark.parametrize(
    ("beads", "flags", "needle"), SLING_BAD, ids=[" ".join(b + f) for b, f, _ in SLING_BAD]
)
async def test_bad_batch_sling_is_a_usage_error(
    beads: list[str], flags: list[str], needle: str, real_rig: str, refused: Callable[..., None]
) -> None:
    refused(needle, "sling", *beads, real_rig, *flags)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["dm-1", "dm-1"], "bead"),
        (["dm-1", "Bad"], "bead"),
        (["dm-1", "$(id)"], "bead"),
    ],
)
async def test_bad_convoy_add_is_a_usage_error(
    args: list[str], needle: str, refused: Callable[..., None]
) -> None:
    refused(needle, "convoy", "add", "no-such-convoy", *args)


HOSTILE = [
    'say "hi"; it\'s done',
    "$(touch {canary}) `touch {canary}`",
    "line one\nline two\n\n; touch {canary}",
    "tab\there | cat {canary} && echo > {canary}",
    "ünïcødé ✓ — ok",
]


async def test_hostile_descriptions_are_stored_verbatim(
    real_rig: str,
    run_gt: Callable[..., subprocess.CompletedProcess[str]],
    custom: client.CustomObjectsApi,
    namespace: str,
    temporal: TemporalDev,
    tmp_path: Path,
) -> None:
    """Quotes, command substitutions and newlines reach the CR as typed and never a shell
    (the canary file would appear if one ran them)."""
    canary = tmp_path / "canary"
    made = []
    for i, template in enumerate(HOSTILE):
        text = template.format(canary=canary)
        name = f"hostile-{i}"
        result = run_gt("convoy", "create", text, "dm-1", "--rig", real_rig, "--name", name)
        assert result.returncode == 0, result.stderr
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "convoys", name)
        assert obj["spec"]["description"] == text
        made.append(name)
    assert not canary.exists()
    temporal_client = await Client.connect(
        temporal.address, namespace=temporal.namespace, data_converter=pydantic_data_converter
    )
    for name in made:  # nobody serves their queue; end them rather than leave them open
        await temporal_client.get_workflow_handle(convoy_workflow_id(namespace, name)).terminate(
            "test over"
        )


async def test_oversized_descriptions_are_refused(
    real_rig: str,
    run_gt: Callable[..., subprocess.CompletedProcess[str]],
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """1 KiB is the limit. 100 KB goes through kubectl (Linux refuses a single argument over
    128 KiB before any program runs, so 1 MB cannot be an argv); 1 MB is given to the same
    command in process."""
    from typer.testing import CliRunner

    from gastown.cli.main import _register, app

    big = run_gt("convoy", "create", "x" * 100_000, "dm-1", "--rig", real_rig)
    assert_refused(big, "description")
    _register()
    huge = CliRunner().invoke(
        app,
        ["convoy", "create", "y" * 1_000_000, "dm-1", "--rig", real_rig, "-n", namespace],
        env={"KUBECONFIG": "/nonexistent"},
    )
    assert huge.exit_code == 2, huge.output
    assert "description" in huge.output
    assert convoys(custom, namespace) == []


async def test_a_refused_notify_url_is_not_echoed(
    real_rig: str,
    run_gt: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """A URL may carry a token: the message names the scheme, never the URL."""
    url = "http://user:s3cr3t-token@hooks.example.com/x"
    result = run_gt("convoy", "create", "x", "dm-1", "--rig", real_rig, "--notify", url)
    assert_refused(result, "--notify")
    assert "s3cr3t-token" not in result.stdout + result.stderr
