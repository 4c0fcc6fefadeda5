"""The seed's OAuth example in container mode: `kubectl apply -f` of deploy/samples/
polecat-oauth.yaml (adapted only as test_seed_examples.py adapts it), picked up by the watcher;
the real polecat-agent image, run by podman, clones the file:// rig, runs the image's own Claude
Code CLI against a scripted Messages API (reached over the host network), commits, pushes, Done.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.client import Client

from gastown.api.identity import polecat_workflow_id
from gastown.kube import PODS, reading
from gastown.operator.app import Watcher
from gastown.workflows.messages import PolecatResult
from tests.api.test_models import SEED_EXAMPLES
from tests.e2e.conftest import ClusterKube, pod_mode  # noqa: F401 - the mode fixture
from tests.operator.conftest import apply, wait_until
from tests.operator.test_lifecycle import status_of
from tests.operator.test_seed_examples import RIG, adapted, secrets
from tests.runtime.fake_anthropic import FakeAnthropic, bash_step, text_step

[OAUTH] = [p for p in SEED_EXAMPLES if p.name == "polecat-oauth.yaml"]


@pytest.fixture
def fake_api() -> Iterator[FakeAnthropic]:
    script = [
        bash_step(
            "printf 'hello from the image\\n' > hello.txt && git add hello.txt && "
            "git commit -q -m 'issue-123: add hello'"
        ),
        text_step("Added hello.txt and committed it."),
    ]
    fake = FakeAnthropic(script).start()
    yield fake
    fake.stop()


@pytest.fixture
def image_rig(kubectl: Callable[..., Any], fake_api: FakeAnthropic, origin: Path) -> Iterator[str]:
    """The Rig the example names. No GT_CLAUDE_BIN: the image's own `claude` runs."""
    # A Rig of that name from an earlier test may still be going.
    kubectl("wait", "--for=delete", f"rig/{RIG}", "--timeout=60s")
    env = {
        "ANTHROPIC_BASE_URL": fake_api.url,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    apply(
        kubectl,
        {
            "apiVersion": "gastown.gastown.io/v1alpha1",
            "kind": "Rig",
            "metadata": {"name": RIG},
            "spec": {
                "gitURL": f"file://{origin}",
                "beadsPrefix": "issue",
                "settings": {
                    "polecatDefaults": {
                        "agentConfig": {"env": [{"name": k, "value": v} for k, v in env.items()]}
                    }
                },
            },
        },
    )
    yield RIG
    kubectl("delete", "rig", RIG, "--wait=false")


@pytest.mark.usefixtures("pod_mode")
@pytest.mark.parametrize(
    "pod_mode", [pytest.param("containers", marks=pytest.mark.containers)], indirect=True
)
async def test_oauth_example_runs_the_real_image_to_done(
    image_rig: str,
    watcher: Watcher,
    namespace: str,
    origin: Path,
    core: client.CoreV1Api,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
    temporal_client: Client,
    fake_api: FakeAnthropic,
) -> None:
    secrets(core, namespace)
    doc, target = adapted(OAUTH, namespace, origin)
    name = doc["metadata"]["name"]
    result = kubectl("apply", "-f", str(target))
    assert result.returncode == 0, result.stderr

    async def finished() -> str | None:
        phase = (await status_of(kube, namespace, name)).get("phase")
        return phase if phase in ("Done", "Failed", "Stuck", "Terminated") else None

    phase = await wait_until(finished, 240, "the OAuth example to finish")
    status = await status_of(kube, namespace, name)
    pod = await kube.run(reading.get(PODS, f"polecat-{name}-1", namespace))
    logs = kubectl("logs", "-n", namespace, f"polecat-{name}-1", "-c", "claude").stdout
    assert phase == "Done", f"{status}\n{logs}"
    assert status["outcome"] == "completed"
    handle = temporal_client.get_workflow_handle(
        polecat_workflow_id(namespace, name), result_type=PolecatResult
    )
    assert (await handle.result()).phase.value == "Done"

    # It ran in containers of the real image, with tini as the entrypoint.
    for c in pod["status"]["initContainerStatuses"] + pod["status"]["containerStatuses"]:
        assert c["containerID"].startswith("podman://"), c
        assert c["image"] == "ghcr.io/gastown/polecat-agent:0.1.0"
    assert "command" not in pod["spec"]["containers"][0]
    # The image's Claude Code called the scripted API with the polecat's access token.
    main = fake_api.main_requests()
    assert main, f"claude never called the Messages API:\n{logs}"
    assert all(r.headers.get("authorization") == "Bearer sk-ant-oat01-TEST" for r in main)
    # Its commit is on the work branch in the origin.
    branch = doc["spec"]["kubernetes"]["workBranch"]
    assert status["branch"] == branch
    shown = await asyncio.to_thread(
        subprocess.run,
        ["git", "--git-dir", str(origin), "show", f"{branch}:hello.txt"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "hello from the image\n"
