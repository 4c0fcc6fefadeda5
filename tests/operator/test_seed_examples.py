"""The seed's Polecat examples, `kubectl apply -f`'d as written, run to Done via the watcher.

The examples are kept in deploy/samples/ (copied unchanged from the seed Go operator).
Adapted only where a laptop forces it, and only by rewriting the YAML's values, never its
shape: `metadata.namespace` becomes the test's namespace, and `spec.kubernetes.gitRepository`
(git@github.com:…, unreachable here) becomes a local bare repository. Everything the examples
name is created first: the Rig `myproject` and the Secrets git-creds, claude-creds and
anthropic-api-key. The examples ask for the claude-code agent; the rig's polecat defaults set
`agentConfig.command` (the Claude Code CLI to run) to a two-line shim that runs the built-in
demo agent, so no model is called and the runtime still takes its claude-code path
(credentials mounted, prompt on stdin).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from temporalio.client import Client

from gastown.api.identity import ANNOTATION_WORKFLOW_ID, polecat_workflow_id
from gastown.operator.app import Watcher
from gastown.workflows.messages import PolecatResult
from tests.api.test_models import SEED_EXAMPLES
from tests.e2e.conftest import ClusterKube
from tests.operator.conftest import apply, wait_until
from tests.operator.test_lifecycle import status_of

RIG = "myproject"


@pytest.fixture
def seed_rig(kubectl: Callable[..., Any], origin: Path, pod_tools: Path) -> Iterator[str]:
    # Beside the pod venv, not under /tmp: the sandbox gives each pod a /tmp of its own.
    shim = pod_tools.parent.parent / "claude-demo-shim"
    shim.write_text(f"#!/bin/sh\nexec {pod_tools}/gt-polecat demo-agent\n")
    shim.chmod(0o755)
    apply(
        kubectl,
        {
            "apiVersion": "gastown.gastown.io/v1alpha1",
            "kind": "Rig",
            "metadata": {"name": RIG},
            "spec": {
                "gitURL": f"file://{origin}",
                "beadsPrefix": "issue",
                "settings": {"polecatDefaults": {"agentConfig": {"command": [str(shim)]}}},
            },
        },
    )
    yield RIG
    kubectl("delete", "rig", RIG, "--wait=false")


def secrets(core: client.CoreV1Api, namespace: str) -> None:
    creds = {
        "claudeAiOauth": {
            "accessToken": "sk-ant-oat01-TEST",
            "refreshToken": "sk-ant-ort01-TEST",
            "expiresAt": int((time.time() + 86400) * 1000),
            "scopes": ["user:inference"],
        }
    }
    for name, data in (
        ("git-creds", {"ssh-privatekey": "not used for a file:// repository\n"}),
        ("claude-creds", {".credentials.json": json.dumps(creds)}),
        ("anthropic-api-key", {"api-key": "sk-ant-api03-TEST"}),
    ):
        core.create_namespaced_secret(
            namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data)
        )


def adapted(path: Path, namespace: str, origin: Path) -> tuple[dict[str, Any], Path]:
    """The example with the two values a laptop forces us to change, written beside `origin`."""
    doc = yaml.safe_load(path.read_text())
    doc["metadata"]["namespace"] = namespace
    doc["spec"]["kubernetes"]["gitRepository"] = f"file://{origin}"
    target = origin.parent / path.name
    target.write_text(yaml.safe_dump(doc))
    return doc, target


@pytest.mark.parametrize("path", SEED_EXAMPLES, ids=lambda p: p.name)
async def test_seed_example_applies_and_finishes(
    path: Path,
    seed_rig: str,
    watcher: Watcher,
    namespace: str,
    origin: Path,
    core: client.CoreV1Api,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
) -> None:
    secrets(core, namespace)
    doc, target = adapted(path, namespace, origin)
    name = doc["metadata"]["name"]
    result = kubectl("apply", "-f", str(target))
    assert result.returncode == 0, result.stderr

    async def finished() -> str | None:
        phase = (await status_of(kube, namespace, name)).get("phase")
        return phase if phase in ("Done", "Failed", "Stuck", "Terminated") else None

    phase = await wait_until(finished, 120, f"{path.name} to finish")
    status = await status_of(kube, namespace, name)
    assert phase == "Done", status
    assert status["outcome"] == "completed"
    wid = polecat_workflow_id(namespace, name)
    obj = await kube.get_polecat(namespace, name)
    assert obj["metadata"]["annotations"][ANNOTATION_WORKFLOW_ID] == wid
    handle = temporal_client.get_workflow_handle(wid, result_type=PolecatResult)
    assert (await handle.result()).phase.value == "Done"
    branch = doc["spec"]["kubernetes"].get("workBranch") or f"feature/{doc['spec']['beadID']}"
    assert status["branch"] == branch
