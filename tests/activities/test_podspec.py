"""The pod the launch activity creates: restricted, argv-only, secrets by reference."""

from __future__ import annotations

import json
import re
from typing import Any

from gastown.activities.podspec import build_pod, task_configmap
from gastown.api import identity as ids
from gastown.api.patterns import DNS1123_LABEL, POLECAT_NAME_MAX
from gastown.workflows.messages import LaunchRequest, PolecatRef, Resolved, SecretKey

HOSTILE_BEAD = "dm-0001"


def resolved(**fields: Any) -> Resolved:
    base: dict[str, Any] = {
        "namespace": "gastown-system",
        "name": "furiosa",
        "rig": "demo-rig",
        "bead_id": HOSTILE_BEAD,
        "repo_url": "git@github.com:org/repo.git",
        "base_branch": "main",
        "work_branch": "feature/dm-0001",
        "image": "ghcr.io/gastown/polecat-agent:0.1.0",
        "agent": "claude-code",
        "git_secret": "git-creds",
        "claude_creds_secret": "claude-creds",
        "active_deadline_seconds": 3600,
        "pending_timeout_seconds": 300,
        "image_pull_grace_seconds": 120,
        "max_attempts": 2,
        "backoff_seconds": 10,
        "succeeded_pod_ttl_seconds": 3600,
        "failed_pod_ttl_seconds": 86400,
    }
    return Resolved(**{**base, **fields})


def request(
    attempt: int = 1,
    pod_auth_secret: str | None = "polecat-furiosa-auth",  # noqa: S107 - a Secret's name
    **fields: Any,
) -> LaunchRequest:
    """A gated run's launch (the polecat's own Secret named) unless `pod_auth_secret=None`."""
    return LaunchRequest(
        resolved=resolved(**fields),
        polecat=PolecatRef(namespace="gastown-system", name="furiosa", uid="uid-1"),
        attempt=attempt,
        workflow_id="polecat/gastown-system/furiosa",
        run_id="0b6d7c7e-1111-2222-3333-444455556666",
        pod_auth_secret=pod_auth_secret,
    )


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_pod_shape_and_identity() -> None:
    pod = build_pod(request(attempt=2))
    meta = pod["metadata"]
    assert meta["name"] == "polecat-furiosa-2"
    assert meta["labels"][ids.LABEL_ATTEMPT] == "2"
    assert meta["labels"][ids.LABEL_WORKFLOW] == ids.workflow_label(
        "polecat/gastown-system/furiosa"
    )
    assert meta["annotations"][ids.ANNOTATION_WORKFLOW_ID] == "polecat/gastown-system/furiosa"
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Polecat", "uid-1", True)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["git-init"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["claude"]
    # args only: the image's ENTRYPOINT (tini) stays PID 1
    assert pod["spec"]["initContainers"][0]["args"] == ["gt-polecat", "init"]
    assert pod["spec"]["containers"][0]["args"] == ["gt-polecat", "run"]
    assert "command" not in pod["spec"]["initContainers"][0]
    assert "command" not in pod["spec"]["containers"][0]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["activeDeadlineSeconds"] == 3600


def test_names_and_label_values_fit_kubernetes_limits() -> None:
    long_name = "a" * POLECAT_NAME_MAX
    pod = build_pod(request(attempt=10, name=long_name))
    assert re.fullmatch(DNS1123_LABEL, pod["metadata"]["name"])
    assert len(pod["metadata"]["name"]) <= 63
    for value in pod["metadata"]["labels"].values():
        assert len(value) <= 63
        assert re.fullmatch(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", value)


def test_restricted_pod_security() -> None:
    pod = build_pod(request(run_as_user=1000700000))
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 1000700000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["initContainers"] + spec["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
    for volume in spec["volumes"]:
        if "emptyDir" in volume:
            assert volume["emptyDir"]["sizeLimit"]


def test_default_uid_is_the_images_user() -> None:
    assert build_pod(request())["spec"]["securityContext"]["runAsUser"] == 65532


def test_values_reach_the_runtime_only_as_env_and_files() -> None:
    pod = build_pod(request(agent_args=["--verbose"], model="claude-sonnet-4-5", has_task=True))
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        # the argv is fixed: nothing of the request's values is in it
        assert "command" not in container
        assert container["args"] in (["gt-polecat", "init"], ["gt-polecat", "run"])
        env = env_of(container)
        assert env["GT_BEAD_ID"] == HOSTILE_BEAD
        assert env["GT_WORK_BRANCH"] == "feature/dm-0001"
        assert env["GT_TASK_FILE"] == "/var/run/gastown/task/task.md"
        assert json.loads(env["GT_AGENT_ARGS"]) == ["--verbose"]
        assert env["GT_GIT_SECRET_DIR"] == "/var/run/gastown/git"
        assert env["GT_CLAUDE_CREDS_DIR"] == "/var/run/gastown/claude"


def test_secrets_travel_by_reference_only() -> None:
    pod = build_pod(
        request(
            claude_creds_secret=None,
            api_key_secret=SecretKey(name="anthropic", key="api-key"),
            forge_token_secret=SecretKey(name="forge", key="token"),
        )
    )
    env = env_of(pod["spec"]["containers"][0])
    assert env["ANTHROPIC_API_KEY"] == {"secretKeyRef": {"name": "anthropic", "key": "api-key"}}
    assert env["GT_FORGE_TOKEN_FILE"] == "/var/run/gastown/forge/token"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["forge-token"]["secret"]["items"] == [{"key": "token", "path": "token"}]
    assert volumes["git-secret"]["secret"]["defaultMode"] == 0o400


def test_user_env_cannot_replace_ours() -> None:
    pod = build_pod(
        request(agent_env=[{"name": "GT_REPO_URL", "value": "evil"}, {"name": "FOO", "value": "1"}])
    )
    env = env_of(pod["spec"]["containers"][0])
    assert env["GT_REPO_URL"] == "git@github.com:org/repo.git"
    assert env["FOO"] == "1"


def test_task_configmap_is_owned_by_the_polecat() -> None:
    cm = task_configmap(request(has_task=True), "do $(rm -rf /) `now`")
    assert cm["metadata"]["name"] == "polecat-furiosa-task"
    assert cm["data"]["task.md"] == "do $(rm -rf /) `now`"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_the_pod_mounts_the_polecats_own_claude_secret_never_the_users() -> None:
    pod = build_pod(request())
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["claude-creds"]["secret"]["secretName"] == "polecat-furiosa-auth"
    assert volumes["claude-creds"]["secret"]["secretName"] == ids.pod_auth_secret_name("furiosa")
    assert volumes["claude-creds"]["secret"]["defaultMode"] == 0o400
    names = json.dumps(pod)
    assert '"claude-creds"' in names  # the volume's name only
    assert '"secretName": "claude-creds"' not in names  # the user's Secret is never mounted
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        mount = [m for m in container["volumeMounts"] if m["name"] == "claude-creds"]
        assert mount == [
            {"name": "claude-creds", "mountPath": "/var/run/gastown/claude", "readOnly": True}
        ]
    without = build_pod(request(claude_creds_secret=None))
    assert "claude-creds" not in {v["name"] for v in without["spec"]["volumes"]}
    assert "GT_CLAUDE_CREDS_DIR" not in env_of(without["spec"]["containers"][0])


def test_a_run_from_before_the_gate_mounts_the_users_secret_as_it_always_did() -> None:
    """A workflow that started before the credentials gate writes no `polecat-<name>-auth`:
    mounting it would leave the pod in ContainerCreating for ever."""
    pod = build_pod(request(pod_auth_secret=None))
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["claude-creds"]["secret"] == {"secretName": "claude-creds", "defaultMode": 0o400}
    assert "polecat-furiosa-auth" not in json.dumps(pod)
    env = env_of(pod["spec"]["containers"][0])
    assert env["GT_CLAUDE_CREDS_DIR"] == "/var/run/gastown/claude"
