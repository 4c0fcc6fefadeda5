"""The pod the launch activity creates: restricted, argv-only, secrets by reference."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gastown.activities.podspec import (
    DEFAULT_RESOURCES,
    agent_time_budget,
    build_pod,
    task_configmap,
)
from gastown.api import identity as ids
from gastown.api.patterns import DNS1123_LABEL, POLECAT_NAME_MAX
from gastown.sandbox.admission.podsecurity import violations
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


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]


def named(pod: dict[str, Any], name: str) -> dict[str, Any]:
    [container] = [c for c in containers(pod) if c["name"] == name]
    return container


def mounts_of(container: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container["volumeMounts"]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_git_containers_run_the_runtime_image_whatever_the_polecat_names() -> None:
    """git-init and publish hold the git and forge Secrets: they run the operator's runtime
    image, and only the agent runs the image the polecat (or its rig) chose."""
    pod = build_pod(
        request(image="evil.example/agent:1", runtime_image="ghcr.io/gastown/polecat-agent:0.1.0")
    )
    images = {c["name"]: c["image"] for c in containers(pod)}
    assert images == {
        "git-init": "ghcr.io/gastown/polecat-agent:0.1.0",
        "claude": "evil.example/agent:1",
        "publish": "ghcr.io/gastown/polecat-agent:0.1.0",
    }


def test_a_history_without_a_runtime_image_runs_the_image_everywhere() -> None:
    """Runs resolved before `runtime_image` existed replay with the pod they were built with."""
    pod = build_pod(request(image="example.org/agent:2"))
    assert {c["image"] for c in containers(pod)} == {"example.org/agent:2"}


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
    # The agent is the last init container: the publisher starts only after it ended.
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["git-init", "claude"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["publish"]
    # args only: the image's ENTRYPOINT (tini) stays PID 1
    assert [c["args"] for c in containers(pod)] == [
        ["gt-polecat", "init"],
        ["gt-polecat", "agent"],
        ["gt-polecat", "publish"],
    ]
    assert not any("command" in c for c in containers(pod))
    assert "shareProcessNamespace" not in pod["spec"]
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
    for container in containers(pod):
        # the argv is fixed: nothing of the request's values is in it
        assert "command" not in container
        assert container["args"][0] == "gt-polecat"
        env = env_of(container)
        assert env["GT_BEAD_ID"] == HOSTILE_BEAD
        assert env["GT_WORK_BRANCH"] == "feature/dm-0001"
    agent = env_of(named(pod, "claude"))
    assert agent["GT_TASK_FILE"] == "/var/run/gastown/task/task.md"
    assert json.loads(agent["GT_AGENT_ARGS"]) == ["--verbose"]
    assert agent["GT_CLAUDE_CREDS_DIR"] == "/var/run/gastown/claude"
    assert agent["GT_AGENT_RESULT_FILE"] == "/var/run/gastown/agent-result/agent-result.json"
    for git_container in ("git-init", "publish"):
        assert env_of(named(pod, git_container))["GT_GIT_SECRET_DIR"] == "/var/run/gastown/git"
    publish = env_of(named(pod, "publish"))
    assert publish["GT_AGENT_RESULT_FILE"] == agent["GT_AGENT_RESULT_FILE"]


@pytest.mark.parametrize(
    ("deadline", "budget"),
    [(3600, 3240), (86400, 85800), (600, 540), (300, 240), (60, 30), (1, 1)],
)
def test_the_agent_stops_before_the_pods_deadline(deadline: int, budget: int) -> None:
    """Only the agent has a time budget, the pod's deadline less the publisher's reserve (a
    tenth, 1 to 10 minutes, at most half): the publisher must still run to push its work."""
    assert agent_time_budget(deadline) == budget
    pod = build_pod(request(active_deadline_seconds=deadline))
    assert pod["spec"]["activeDeadlineSeconds"] == deadline
    assert env_of(named(pod, "claude"))["GT_AGENT_TIME_BUDGET_SECONDS"] == str(budget)
    for other in ("git-init", "publish"):
        assert "GT_AGENT_TIME_BUDGET_SECONDS" not in env_of(named(pod, other))


def test_each_container_holds_only_its_own_credentials() -> None:
    """The agent's container: model credentials, the task, the workspace; never the git or
    forge Secret, their env, or a home or /tmp a git container wrote. The git containers:
    no model credential and nothing of the user's agent env."""
    pod = build_pod(
        request(
            has_task=True,
            known_hosts_configmap="known-hosts",
            api_key_secret=SecretKey(name="anthropic", key="api-key"),
            forge_token_secret=SecretKey(name="forge", key="token"),
            agent_env=[
                {"name": "FOO", "value": "1"},
                {"name": "MODEL_TOKEN", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}},
            ],
        )
    )
    agent, init, publish = (named(pod, n) for n in ("claude", "git-init", "publish"))
    assert set(mounts_of(agent)) == {
        "workspace", "agent-home", "agent-tmp", "agent-result", "claude-creds", "task",
    }  # fmt: skip
    assert set(mounts_of(init)) == {"workspace", "home", "tmp", "git-secret", "known-hosts"}
    assert set(mounts_of(publish)) == {
        "workspace", "home", "tmp", "agent-result", "git-secret", "known-hosts", "forge-token",
    }  # fmt: skip
    # Same paths, different volumes: the agent's HOME is not the one git-init copied the SSH
    # key into.
    assert mounts_of(agent)["agent-home"] == mounts_of(init)["home"] == "/home/polecat"
    [report] = [m for m in publish["volumeMounts"] if m["name"] == "agent-result"]
    assert report["readOnly"] is True
    agent_env = env_of(agent)
    for name in ("GT_GIT_SECRET_DIR", "GT_FORGE_TOKEN_FILE", "GT_KNOWN_HOSTS_FILE"):
        assert name not in agent_env
    assert agent_env["ANTHROPIC_API_KEY"] == {
        "secretKeyRef": {"name": "anthropic", "key": "api-key"}
    }
    assert agent_env["FOO"] == "1"
    for git_container in (init, publish):
        env = env_of(git_container)
        assert not {"ANTHROPIC_API_KEY", "GT_CLAUDE_CREDS_DIR", "GT_TASK_FILE", "FOO"} & set(env)
        assert "MODEL_TOKEN" not in env
        assert not any("valueFrom" in e for e in git_container["env"])
    assert env_of(publish)["GT_FORGE_TOKEN_FILE"] == "/var/run/gastown/forge/token"
    assert "GT_FORGE_TOKEN_FILE" not in env_of(init)
    # Every volume a container mounts exists, and every volume is mounted by someone.
    volumes = {v["name"] for v in pod["spec"]["volumes"]}
    mounted = {m["name"] for c in containers(pod) for m in c["volumeMounts"]}
    assert mounted == volumes


def test_secrets_travel_by_reference_only() -> None:
    pod = build_pod(
        request(
            claude_creds_secret=None,
            api_key_secret=SecretKey(name="anthropic", key="api-key"),
            forge_token_secret=SecretKey(name="forge", key="token"),
        )
    )
    env = env_of(named(pod, "claude"))
    assert env["ANTHROPIC_API_KEY"] == {"secretKeyRef": {"name": "anthropic", "key": "api-key"}}
    assert env_of(named(pod, "publish"))["GT_FORGE_TOKEN_FILE"] == "/var/run/gastown/forge/token"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["forge-token"]["secret"]["items"] == [{"key": "token", "path": "token"}]
    assert volumes["git-secret"]["secret"]["defaultMode"] == 0o400


def test_user_env_cannot_replace_ours() -> None:
    pod = build_pod(
        request(agent_env=[{"name": "GT_REPO_URL", "value": "evil"}, {"name": "FOO", "value": "1"}])
    )
    env = env_of(named(pod, "claude"))
    assert env["GT_REPO_URL"] == "git@github.com:org/repo.git"
    assert env["FOO"] == "1"
    assert env_of(named(pod, "publish"))["GT_REPO_URL"] == "git@github.com:org/repo.git"


def test_every_container_has_requests_and_limits() -> None:
    """Not BestEffort, and admitted where a ResourceQuota counts cpu and memory: built-in
    defaults unless the Polecat or Rig sets resources, which then apply to every container."""
    pod = build_pod(request())
    for container in containers(pod):
        assert container["resources"] == DEFAULT_RESOURCES
        assert container["resources"] is not DEFAULT_RESOURCES
    mine = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}}
    pod = build_pod(request(resources=mine))
    assert [c["resources"] for c in containers(pod)] == [mine, mine, mine]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"run_as_user": 1000700000, "has_task": True, "known_hosts_configmap": "kh"},
        {
            "claude_creds_secret": None,
            "git_secret": None,
            "api_key_secret": SecretKey(name="anthropic", key="api-key"),
            "forge_token_secret": SecretKey(name="forge", key="token"),
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
            "service_account": "polecat",
        },
    ],
    ids=["defaults", "task-known-hosts-uid", "api-key-forge-resources"],
)
def test_every_pod_shape_passes_the_restricted_pod_security_standard(fields: Any) -> None:
    """The sandbox's admission (upstream's checks, ported) judges the rendered pod."""
    pod = build_pod(request(**fields))
    assert violations(pod, "restricted") == []
    assert violations(pod, "baseline") == []


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
    for container in containers(pod):
        mount = [m for m in container["volumeMounts"] if m["name"] == "claude-creds"]
        expected = {
            "name": "claude-creds",
            "mountPath": "/var/run/gastown/claude",
            "readOnly": True,
        }
        assert mount == ([expected] if container["name"] == "claude" else [])
    without = build_pod(request(claude_creds_secret=None))
    assert "claude-creds" not in {v["name"] for v in without["spec"]["volumes"]}
    assert "GT_CLAUDE_CREDS_DIR" not in env_of(named(without, "claude"))


def test_a_run_from_before_the_gate_mounts_the_users_secret_as_it_always_did() -> None:
    """A workflow that started before the credentials gate writes no `polecat-<name>-auth`:
    mounting it would leave the pod in ContainerCreating for ever."""
    pod = build_pod(request(pod_auth_secret=None))
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["claude-creds"]["secret"] == {"secretName": "claude-creds", "defaultMode": 0o400}
    assert "polecat-furiosa-auth" not in json.dumps(pod)
    env = env_of(named(pod, "claude"))
    assert env["GT_CLAUDE_CREDS_DIR"] == "/var/run/gastown/claude"
