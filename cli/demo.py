"""`kubectl gt dev demo`: the main job on a laptop, against the environment `dev up` started.

It creates a demo rig backed by a local bare repository (with a bead in Gas Town's
.beads/issues.jsonl), slings that bead with `kubectl gt sling --wait`, and prints the pushed
branch, its commit and the workflow in the Temporal UI. The agent is the built-in DEMO agent
(`gt-polecat demo-agent`, not an AI) unless ANTHROPIC_API_KEY is set and the `claude` CLI is
installed, in which case Claude Code does the work.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

DEFAULT_STATE = Path(os.environ.get("GASTOWN_DEV_STATE", ".gastown-dev"))
NAMESPACE = "default"
RIG = "demo-rig"
BEAD = "dm-0001"
POD_UID = 65532
BEADS = [
    {
        "id": BEAD,
        "title": "Add a hello note for visitors",
        "description": "Write a short greeting for people who open this repository.",
        "acceptance_criteria": "A committed file greets the reader.",
        "status": "open",
        "priority": 2,
        "issue_type": "task",
    }
]


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "demo",
            "GIT_AUTHOR_EMAIL": "demo@gastown.invalid",
            "GIT_COMMITTER_NAME": "demo",
            "GIT_COMMITTER_EMAIL": "demo@gastown.invalid",
        },
    )


def make_origin(path: Path) -> Path:
    """A bare repository with a README and one open bead; the pods' user may push to it."""
    if path.exists():
        return path
    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp)
        _git("init", "-q", cwd=seed)
        (seed / "README.md").write_text("# Gas Town demo rig\n")
        (seed / ".beads").mkdir()
        (seed / ".beads" / "issues.jsonl").write_text("".join(json.dumps(b) + "\n" for b in BEADS))
        _git("add", "-A", cwd=seed)
        _git("commit", "-q", "-m", "Demo rig", cwd=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "-q", "--bare", str(seed), str(path), cwd=seed)
    if os.geteuid() == 0:  # pods drop to their runAsUser, and must be able to push here
        for root, dirs, files in os.walk(path):
            os.chown(root, POD_UID, POD_UID)
            for name in dirs + files:
                os.lchown(os.path.join(root, name), POD_UID, POD_UID)
        for parent in path.parents:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o001)
    return path


def _claude(containers: bool) -> str | None:
    """Claude Code, when both its CLI and a key are at hand. In container mode the image has
    it (on its PATH): "" means that one."""
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return None
    if containers:
        return ""
    local = Path(__file__).resolve().parents[1] / ".tools" / "node_modules" / ".bin" / "claude"
    return str(local) if local.exists() else shutil.which("claude")


def _apply(kubeconfig: str, origin: Path, claude: str | None) -> None:
    from gastown.kube import FAIL_FAST, RIGS, SECRETS, from_kubeconfig, writing

    kube = from_kubeconfig(kubeconfig, FAIL_FAST)
    defaults: dict[str, Any] = {"agentConfig": {"command": ["gt-polecat", "demo-agent"]}}
    if claude is not None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "anthropic-api-key", "namespace": NAMESPACE},
            "stringData": {"api-key": os.environ["ANTHROPIC_API_KEY"]},
        }
        kube.run_sync(writing.create_or_replace(SECRETS, body))
        defaults = {"apiKeySecretRef": {"name": "anthropic-api-key", "key": "api-key"}}
        if claude:  # process mode: the host's CLI
            defaults["agentConfig"] = {"command": [claude]}
    rig: dict[str, Any] = {
        "apiVersion": RIGS.api_version,
        "kind": RIGS.kind,
        "metadata": {"name": RIG},
        "spec": {
            "gitURL": f"file://{origin}",
            "beadsPrefix": "dm",
            "settings": {"polecatDefaults": defaults},
        },
    }
    kube.run_sync(writing.create_or_replace(RIGS, rig))


def demo(
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="As given to `dev up`.")
    ] = DEFAULT_STATE,
) -> None:
    """Sling a demo bead end to end and show where its work went."""
    state = state_dir.resolve()
    try:
        settings = json.loads((state / "dev.json").read_text())
        ready = json.loads((state / "sandbox" / "ready.json").read_text())
    except (OSError, ValueError):
        typer.echo("error: no sandbox found: run `kubectl gt dev up` first", err=True)
        raise typer.Exit(1) from None
    kubeconfig = ready["kubeconfig"]
    origin = make_origin(state / "demo" / "origin.git")
    containers = bool(settings.get("containers"))
    claude = _claude(containers)
    _apply(kubeconfig, origin, claude)
    agent = "claude-code" if claude is not None else "command"
    typer.echo(
        f"Rig {RIG} → {origin}; agent: "
        + ("Claude Code" if claude is not None else "the built-in DEMO agent (not an AI)")
        + ("; pods run as podman containers of the real image" if containers else "")
    )
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{settings['temporalPort']}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    kubectl = shutil.which("kubectl")
    gt = [kubectl, "gt"] if kubectl else [str(Path(sys.executable).with_name("kubectl-gt"))]
    argv = [
        *gt,
        "sling",
        BEAD,
        RIG,
        "--agent",
        agent,
        "--wait",
        "--timeout",
        "10m",
        "-n",
        NAMESPACE,
    ]
    typer.echo("$ kubectl gt sling " + " ".join(argv[len(gt) + 1 :]))
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    typer.echo(result.stdout.rstrip())
    if result.returncode != 0:
        typer.echo(result.stderr.strip(), err=True)
        raise typer.Exit(result.returncode)
    created = re.search(r"^Polecat (\S+) created for bead", result.stdout, re.MULTILINE)
    if created is None:
        typer.echo("error: sling did not say which polecat it created", err=True)
        raise typer.Exit(1)
    _summary(kubeconfig, created.group(1), origin, settings)


def _summary(kubeconfig: str, name: str, origin: Path, settings: dict[str, Any]) -> None:
    from gastown.api.identity import polecat_workflow_id
    from gastown.kube import FAIL_FAST, POLECATS, from_kubeconfig, reading

    kube = from_kubeconfig(kubeconfig, FAIL_FAST)
    status = kube.run_sync(reading.get(POLECATS, name, NAMESPACE))["status"]
    workflow = quote(polecat_workflow_id(NAMESPACE, name), safe="")
    typer.echo(f"polecat:  {name} ({status.get('phase')}, {status.get('outcome')})")
    typer.echo(f"branch:   {status.get('branch')} in {origin}")
    typer.echo(f"commit:   {status.get('commit')}")
    typer.echo(
        f"temporal: http://127.0.0.1:{settings['uiPort']}/namespaces/default/workflows/{workflow}"
    )
    typer.echo(f"see it:   git --git-dir {origin} log --stat -1 {status.get('branch')}")
