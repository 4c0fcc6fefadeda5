"""Malformed slings are refused before any cluster or Temporal is contacted: exit 2, a
message naming the flag, no traceback. KUBECONFIG points nowhere, so nothing could be
created even by mistake: reaching the cluster would fail differently (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

BAD = [
    (["$(rm -rf /)", "demo-rig"], "bead"),
    (["ISSUE-1", "demo-rig"], "bead"),
    (["a b", "demo-rig"], "bead"),
    (["../x", "demo-rig"], "bead"),
    (["-x", "demo-rig"], ""),
    (["dm-" + "1" * 70, "demo-rig"], "bead"),
    (["dm-1", "Demo_Rig"], "rig"),
    (["dm-1", "demo-rig", "--name", "Furiosa"], "--name"),
    (["dm-1", "demo-rig", "--name", "witness"], "reserved"),
    (["dm-1", "demo-rig", "--name", "a;b"], "--name"),
    (["dm-1", "demo-rig", "--name", "x", "--theme", "mad-max"], "mutually exclusive"),
    (["dm-1", "demo-rig", "--theme", "fury-road"], "--theme"),
    (["dm-1", "demo-rig", "--work-branch", "a..b"], "--work-branch"),
    (["dm-1", "demo-rig", "--base-branch", "-main"], "--base-branch"),
    (["dm-1", "demo-rig", "--work-branch", "x.lock"], "--work-branch"),
    (["dm-1", "demo-rig", "--image", "img:$(id)"], "--image"),
    (["dm-1", "demo-rig", "--deadline", "0"], "--deadline"),
    (["dm-1", "demo-rig", "--deadline", "soon"], "--deadline"),
    (["dm-1", "demo-rig", "--timeout", "-5"], "--timeout"),
    (["dm-1", "demo-rig", "--model", "$(id)"], "--model"),
    (["dm-1", "demo-rig", "--task", "x", "--task-file", "/etc/hostname"], "mutually exclusive"),
    (["dm-1", "demo-rig", "--task-file", "/nonexistent/task.md"], "--task-file"),
    (["dm-1", "demo-rig", "-o", "name"], "-o"),
    (["dm-1"], "Missing argument"),
    # Env names the runtime owns: the field and the name, nothing sent anywhere.
    (
        ["dm-1", "demo-rig", "--env", "GT_FORGE_API_URL=http://evil.example"],
        "--env (spec.agentConfig.env[0].name): GT_FORGE_API_URL is reserved for the runtime",
    ),
    (
        ["dm-1", "demo-rig", "--env", "FOO=1", "--env", "GIT_CONFIG_GLOBAL=/tmp/x"],
        "--env (spec.agentConfig.env[1].name): GIT_CONFIG_GLOBAL is reserved for the runtime",
    ),
    (
        ["dm-1", "demo-rig", "--env", "ANTHROPIC_API_KEY=sk-x"],
        "--env (spec.agentConfig.env[0].name): ANTHROPIC_API_KEY is reserved for the runtime",
    ),
    # One name twice: the pod takes the last, a check of the first would judge another value.
    (
        [
            *("dm-1", "demo-rig", "--env", "ANTHROPIC_BASE_URL=https://a.example"),
            *("--env", "ANTHROPIC_BASE_URL=https://b.example"),
        ],
        "agentConfig.env names ANTHROPIC_BASE_URL more than once; keep one item per name",
    ),
    (["dm-1", "demo-rig", "--env", "NOEQUALS"], "--env 'NOEQUALS' must be NAME=VALUE"),
    (["dm-1", "demo-rig", "--env", "=x"], "--env must be NAME=VALUE"),
    (["dm-1", "demo-rig", "--env", "1X=1"], "--env"),
    (["dm-1", "dm-2", "demo-rig", "--env", "FOO=1"], "--env applies to one polecat"),
]


@pytest.mark.parametrize(("args", "needle"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_sling_is_a_usage_error(args: list[str], needle: str, tmp_path: Path) -> None:
    assert_usage_error(["sling", *args], needle, tmp_path)


def assert_usage_error(args: list[str], needle: str, tmp_path: Path) -> None:
    """`kubectl gt <args>` exits 2 naming `needle`, without a traceback, before it looks for
    a cluster (KUBECONFIG points nowhere: a value that got past the checks would exit 1)."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    result = subprocess.run(
        ["/usr/bin/kubectl", "gt", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert needle in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "no-such-kubeconfig").exists()


@pytest.mark.parametrize(
    ("defaults", "inherited", "way_out"),
    [
        (
            {"apiKeySecretRef": {"name": "rig-key", "key": "k"}},
            "settings.polecatDefaults.apiKeySecretRef",
            "a Polecat with its own spec.kubernetes.apiKeySecretRef may name its own endpoint",
        ),
        (
            {
                "agentConfig": {
                    "env": [
                        {
                            "name": "ANTHROPIC_CUSTOM_HEADERS",
                            "valueFrom": {"secretKeyRef": {"name": "gw", "key": "h"}},
                        }
                    ]
                }
            },
            "settings.polecatDefaults.agentConfig.env ANTHROPIC_CUSTOM_HEADERS (Secret gw)",
            "a Polecat with its own value for those env items may name its own endpoint",
        ),
    ],
)
def test_slings_endpoint_refusal_names_what_the_rig_gives_and_the_way_out(
    defaults: dict[str, object], inherited: str, way_out: str
) -> None:
    """What the rig gives decides the advice: a key of its own, or its own env values."""
    from gastown.cli.session import Usage
    from gastown.cli.sling import _check_pins

    rig = {
        "metadata": {"name": "demo-rig"},
        "spec": {"settings": {"polecatDefaults": defaults}},
    }
    spec = {"agentConfig": {"env": [{"name": "ANTHROPIC_BASE_URL", "value": "https://x.example"}]}}
    with pytest.raises(Usage) as caught:
        _check_pins(rig, spec)
    assert f"credential is rig demo-rig's ({inherited})" in str(caught.value)
    assert way_out in str(caught.value)
    assert "x.example" not in str(caught.value)
