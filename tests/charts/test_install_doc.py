"""docs/install.md's files are real: its Polecat is valid for our API, and its kustomize
overlay renders with the real kubectl and points both processes at the Temporal it names."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from gastown.api.polecat import Polecat
from tests.charts.rendering import ROOT
from tests.conftest import KUBECTL

DOC = (ROOT / "docs/install.md").read_text()


def _heredoc(after: str) -> str:
    return DOC.split(after, 1)[1].split("\nEOF\n", 1)[0]


def test_the_applied_polecat_is_valid() -> None:
    polecat = Polecat.model_validate(yaml.safe_load(_heredoc("cat <<'EOF' | kubectl apply -f -\n")))
    assert (polecat.metadata.namespace, polecat.spec.rig) == ("team-a", "myproject")


def test_the_kustomize_overlay_renders_with_the_temporal_address(tmp_path: Path) -> None:
    overlay = tmp_path / "gastown-overlay"
    overlay.mkdir()
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")
    (overlay / "kustomization.yaml").write_text(
        _heredoc("cat > gastown-overlay/kustomization.yaml <<'EOF'\n")
    )
    done = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    deployments = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment"]
    addresses = {
        d["metadata"]["name"]: [
            a
            for a in d["spec"]["template"]["spec"]["containers"][0]["args"]
            if re.match("--temporal-address=", a)
        ]
        for d in deployments
    }
    # Not the chart's default, so the patch is what put it there.
    assert (
        "temporal.example.internal"
        not in (ROOT / "deploy/kustomize/base/deployments.yaml").read_text()
    )
    assert addresses == {
        "gastown-operator-worker": ["--temporal-address=temporal.example.internal:7233"],
        "gastown-operator-watcher": ["--temporal-address=temporal.example.internal:7233"],
    }


def test_the_rig_policy_patch_applies_with_the_real_kubectl(tmp_path: Path) -> None:
    """Its YAML patch is one kubectl takes (merged offline into a Rig with --local), and the
    policy it sets is valid for our API."""
    from gastown.api.rig import Rig

    patch = DOC.split("kubectl patch rig myproject --type merge -p '\n", 1)[1].split("\n'\n", 1)[0]
    rig = tmp_path / "rig.yaml"
    rig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "gastown.gastown.io/v1alpha1",
                "kind": "Rig",
                "metadata": {"name": "myproject"},
                "spec": {"gitURL": "git@github.com:myorg/myrepo.git", "beadsPrefix": "mp"},
            }
        )
    )
    done = subprocess.run(
        [KUBECTL, "patch", "--local", "-f", str(rig), "--type", "merge", "-p", patch, "-o", "yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    policy = Rig.model_validate(yaml.safe_load(done.stdout)).spec.polecat_policy
    assert policy is not None and policy.allowed_secrets == ["team-a-agent-token"]
