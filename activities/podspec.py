"""The polecat pod, built from a resolved spec: pure data, so every field has a test.

Three containers, so the agent never shares a mount namespace with a git or forge credential
(docs/runtime.md, "Pod shape"):

- init `git-init` (`gt-polecat init`): the git Secret and known_hosts; clones the workspace.
- init `claude` (`gt-polecat agent`): model credentials, the task and the workspace only; runs
  the agent and leaves its report in the `agent-result` emptyDir.
- `publish` (`gt-polecat publish`): the git and forge Secrets and the workspace, no model
  credential; commits, pushes, opens the PR and writes the pod's result.

The agent is the last init container so the publisher starts only after it ends; each
container has its own home and /tmp, so nothing one writes there reaches another. Values reach
the runtime only through env vars and mounted files (docs/runtime.md is the contract);
credentials only through Secret volumes and secretKeyRef, never as literal values. The security
context meets the restricted Pod Security profile, and every container has requests and limits.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

from gastown.api import identity as ids
from gastown.api.crd import API_VERSION
from gastown.workflows.messages import LaunchRequest

WORKSPACE: Final = "/workspace"
HOME: Final = "/home/polecat"
SECRETS_ROOT: Final = "/var/run/gastown"
GIT_SECRET_DIR: Final = f"{SECRETS_ROOT}/git"
CLAUDE_CREDS_DIR: Final = f"{SECRETS_ROOT}/claude"
KNOWN_HOSTS_DIR: Final = f"{SECRETS_ROOT}/known-hosts"
TASK_DIR: Final = f"{SECRETS_ROOT}/task"
FORGE_DIR: Final = f"{SECRETS_ROOT}/forge"
AGENT_RESULT_DIR: Final = f"{SECRETS_ROOT}/agent-result"
AGENT_RESULT_FILE: Final = f"{AGENT_RESULT_DIR}/agent-result.json"
TASK_KEY: Final = "task.md"
INIT_CONTAINER: Final = "git-init"
AGENT_CONTAINER: Final = "claude"
PUBLISH_CONTAINER: Final = "publish"
#: Requests and limits of every container when neither the Polecat nor its Rig sets
#: `resources`: a pod with none is BestEffort (first to be evicted) and a namespace with a
#: ResourceQuota on cpu/memory refuses it. Every container gets the same values: the two init
#: containers run one after the other and before the one main container, so the pod's
#: effective request (the larger of the largest init container and the main ones' sum) is one
#: container's, not three.
DEFAULT_RESOURCES: Final[dict[str, dict[str, str]]] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "2", "memory": "4Gi"},
}
#: What only the git containers (git-init, publish) may see.
GIT_ONLY_ENV: Final = frozenset(
    {"GT_GIT_SECRET_DIR", "GT_FORGE_TOKEN_FILE", "GT_KNOWN_HOSTS_FILE", "GT_GIT_CA_FILE"}
)
#: Variables the git containers get from `_env()`; anything else (model credentials and
#: endpoint, the task, the user's agent env) is the agent's alone.
_GIT_ENV_EXCLUDED: Final = frozenset({"GT_CLAUDE_CREDS_DIR", "GT_TASK_FILE"})
GIT_VOLUMES: Final = frozenset({"git-secret", "known-hosts", "forge-token"})
AGENT_VOLUMES: Final = frozenset({"claude-creds", "task"})
DEFAULT_UID: Final = 65532
TERMINATION_LOG: Final = "/dev/termination-log"


def _labels(req: LaunchRequest) -> dict[str, str]:
    r = req.resolved
    labels = {
        ids.LABEL_POLECAT: r.name,
        ids.LABEL_RIG: r.rig,
        ids.LABEL_BEAD: r.bead_id,
        ids.LABEL_ATTEMPT: str(req.attempt),
        ids.LABEL_WORKFLOW: ids.workflow_label(req.workflow_id),
        ids.LABEL_RUN: req.run_id,
        ids.LABEL_MANAGED_BY: ids.MANAGED_BY,
    }
    if r.convoy:
        labels[ids.LABEL_CONVOY] = r.convoy
    return labels


def _env(req: LaunchRequest) -> list[dict[str, Any]]:
    r = req.resolved
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": HOME},
        {"name": "GT_WORKSPACE", "value": WORKSPACE},
        {"name": "GT_REPO_URL", "value": r.repo_url},
        {"name": "GT_BASE_BRANCH", "value": r.base_branch},
        {"name": "GT_WORK_BRANCH", "value": r.work_branch},
        {"name": "GT_BEAD_ID", "value": r.bead_id},
        {"name": "GT_POLECAT", "value": r.name},
        {"name": "GT_RIG", "value": r.rig},
        {"name": "GT_ATTEMPT", "value": str(req.attempt)},
        {"name": "GT_AGENT", "value": r.agent},
        {"name": "GT_TERMINATION_LOG", "value": TERMINATION_LOG},
    ]
    optional = {
        "GT_MODEL": r.model,
        "GT_MAX_TURNS": str(r.max_turns) if r.max_turns else None,
        "GT_AGENT_ARGS": json.dumps(r.agent_args) if r.agent_args else None,
        "GT_AGENT_COMMAND": json.dumps(r.agent_command) if r.agent_command else None,
        "GT_MAX_IDLE_SECONDS": str(r.max_idle_seconds) if r.max_idle_seconds else None,
        "GT_TASK_FILE": f"{TASK_DIR}/{TASK_KEY}" if r.has_task else None,
        "GT_GIT_SECRET_DIR": GIT_SECRET_DIR if r.git_secret else None,
        "GT_CLAUDE_CREDS_DIR": CLAUDE_CREDS_DIR if r.claude_creds_secret else None,
        "GT_KNOWN_HOSTS_FILE": f"{KNOWN_HOSTS_DIR}/known_hosts"
        if r.known_hosts_configmap
        else None,
        "GT_FORGE_TOKEN_FILE": f"{FORGE_DIR}/token" if r.forge_token_secret else None,
        # agentConfig.modelProvider.endpoint: where Claude Code sends its requests.
        "ANTHROPIC_BASE_URL": r.model_endpoint,
    }
    env += [{"name": k, "value": v} for k, v in optional.items() if v is not None]
    if r.api_key_secret:
        env.append(
            {
                "name": "ANTHROPIC_API_KEY",
                "valueFrom": {
                    "secretKeyRef": {"name": r.api_key_secret.name, "key": r.api_key_secret.key}
                },
            }
        )
    # The user's extra env comes last so it can add, but cannot silently replace, ours; and
    # never a name the runtime owns, even one we did not set (GT_FORGE_API_URL, GIT_*): the
    # schema refuses those, this drops them from objects stored before it did.
    from gastown.api.envnames import is_reserved

    ours = {e["name"] for e in env}
    env += [e for e in r.agent_env if e["name"] not in ours and not is_reserved(e["name"])]
    return env


def _volumes(req: LaunchRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every volume of the pod and every mount any container may have; `_mounts` picks each
    container's share."""
    r = req.resolved
    volumes: list[dict[str, Any]] = [
        {"name": "workspace", "emptyDir": {"sizeLimit": "10Gi"}},
        {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "agent-home", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "agent-tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "agent-result", "emptyDir": {"sizeLimit": "1Mi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, the pod's own /tmp
        {"name": "agent-home", "mountPath": HOME},
        {"name": "agent-tmp", "mountPath": "/tmp"},  # noqa: S108 - the agent's own /tmp
        {"name": "agent-result", "mountPath": AGENT_RESULT_DIR},
    ]

    def add(name: str, source: dict[str, Any], path: str) -> None:
        volumes.append({"name": name, **source})
        mounts.append({"name": name, "mountPath": path, "readOnly": True})

    if r.git_secret:
        secret = {"secret": {"secretName": r.git_secret, "defaultMode": 0o400}}
        add("git-secret", secret, GIT_SECRET_DIR)
    if r.claude_creds_secret:
        # The polecat's own Secret (activities/podauth.py), never the user's: it holds one
        # access token (`.credentials.json` without its refresh token, or `oauth-token`). A
        # workflow that started before the credentials gate writes none: its pods mount the
        # user's Secret as before, or they would wait in ContainerCreating for ever.
        add(
            "claude-creds",
            {
                "secret": {
                    "secretName": req.pod_auth_secret or r.claude_creds_secret,
                    "defaultMode": 0o400,
                }
            },
            CLAUDE_CREDS_DIR,
        )
    if r.known_hosts_configmap:
        add(
            "known-hosts",
            {
                "configMap": {
                    "name": r.known_hosts_configmap,
                    "items": [{"key": "known_hosts", "path": "known_hosts"}],
                }
            },
            KNOWN_HOSTS_DIR,
        )
    if r.has_task:
        add("task", {"configMap": {"name": ids.task_configmap_name(r.name)}}, TASK_DIR)
    if r.forge_token_secret:
        add(
            "forge-token",
            {
                "secret": {
                    "secretName": r.forge_token_secret.name,
                    "items": [{"key": r.forge_token_secret.key, "path": "token"}],
                    "defaultMode": 0o400,
                }
            },
            FORGE_DIR,
        )
    return volumes, mounts


#: Which volumes each container mounts. The agent's list holds no git or forge Secret and
#: no home or /tmp a git container writes (git-init copies the SSH key into its home).
_MOUNTS: Final[dict[str, frozenset[str]]] = {
    INIT_CONTAINER: frozenset({"workspace", "home", "tmp"}) | GIT_VOLUMES - {"forge-token"},
    AGENT_CONTAINER: frozenset({"workspace", "agent-home", "agent-tmp", "agent-result"})
    | AGENT_VOLUMES,
    PUBLISH_CONTAINER: frozenset({"workspace", "home", "tmp", "agent-result"}) | GIT_VOLUMES,
}


def _mounts(all_mounts: list[dict[str, Any]], container: str) -> list[dict[str, Any]]:
    wanted = _MOUNTS[container]
    mounts = [dict(m) for m in all_mounts if m["name"] in wanted]
    if container == PUBLISH_CONTAINER:
        for m in mounts:  # the publisher only reads the agent's report
            if m["name"] == "agent-result":
                m["readOnly"] = True
    return mounts


def agent_time_budget(active_deadline_seconds: int) -> int:
    """The agent's share of the pod's activeDeadlineSeconds (GT_AGENT_TIME_BUDGET_SECONDS).

    The kubelet's deadline kills every container at once: an agent still working then would
    take its unpushed work with it, the publisher never starting. So the agent's runtime stops
    it first, leaving a reserve for what runs outside the agent's clock (the clone before it,
    the commit, push and pull request after it): a tenth of the deadline, at least a minute
    and at most ten, and never more than half the deadline."""
    reserve = min(max(active_deadline_seconds // 10, 60), 600, active_deadline_seconds // 2)
    return max(active_deadline_seconds - reserve, 1)


def _container_env(req: LaunchRequest, env: list[dict[str, Any]], container: str) -> list[Any]:
    """Each container's share of `_env()`. The agent gets everything but the git-only paths
    (and its report's path); the git containers get only the runtime's own `GT_*` values and
    HOME: no model credential, no secretKeyRef, nothing of the user's agent env."""
    if container == AGENT_CONTAINER:
        kept = [e for e in env if e["name"] not in GIT_ONLY_ENV]
        budget = agent_time_budget(req.resolved.active_deadline_seconds)
        return [
            *kept,
            {"name": "GT_AGENT_RESULT_FILE", "value": AGENT_RESULT_FILE},
            {"name": "GT_AGENT_TIME_BUDGET_SECONDS", "value": str(budget)},
        ]
    user = req.resolved.agent_env
    kept = [
        e
        for e in env
        if (e["name"] == "HOME" or e["name"].startswith("GT_"))
        and e["name"] not in _GIT_ENV_EXCLUDED
        and "valueFrom" not in e
        and (e not in user or e["name"] == "HOME")
    ]
    if container == PUBLISH_CONTAINER:
        kept.append({"name": "GT_AGENT_RESULT_FILE", "value": AGENT_RESULT_FILE})
    else:  # the clone opens no pull request
        kept = [e for e in kept if e["name"] != "GT_FORGE_TOKEN_FILE"]
    return kept


def resources_of(req: LaunchRequest) -> dict[str, Any]:
    """The Polecat's (or its Rig's) `resources` when set, else DEFAULT_RESOURCES."""
    r = req.resolved
    chosen = r.resources if r.resources else DEFAULT_RESOURCES
    return copy.deepcopy(chosen)  # a copy per container: callers may edit one


def _owner(req: LaunchRequest) -> dict[str, Any]:
    """The Polecat owns its pods and task ConfigMap: deleting the CR cascades to them."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Polecat",
        "name": req.resolved.name,
        "uid": req.polecat.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def build_pod(req: LaunchRequest) -> dict[str, Any]:
    r = req.resolved
    uid = r.run_as_user or DEFAULT_UID
    volumes, mounts = _volumes(req)
    env = _env(req)

    def container(name: str, command: str, image: str) -> dict[str, Any]:
        # `args`, not `command`: the image's ENTRYPOINT (tini, PID 1, reaping the agent's
        # stray children) runs and execs gt-polecat.
        return {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "args": ["gt-polecat", command],
            "env": _container_env(req, env, name),
            "volumeMounts": _mounts(mounts, name),
            "workingDir": WORKSPACE,
            "securityContext": _container_security(),
            "resources": resources_of(req),
            "terminationMessagePath": TERMINATION_LOG,
            "terminationMessagePolicy": "File",
        }

    # The containers holding the git and forge Secrets run the operator's runtime image: an
    # image the polecat's author chose runs only the agent, which holds neither.
    runtime_image = r.runtime_image or r.image
    init = container(INIT_CONTAINER, "init", runtime_image)
    agent = container(AGENT_CONTAINER, "agent", r.image)
    publish = container(PUBLISH_CONTAINER, "publish", runtime_image)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": ids.pod_name(r.name, req.attempt),
            "namespace": r.namespace,
            "labels": _labels(req),
            "annotations": {
                ids.ANNOTATION_WORKFLOW_ID: req.workflow_id,
                ids.ANNOTATION_RUN_ID: req.run_id,
            },
            "ownerReferences": [_owner(req)],
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": r.active_deadline_seconds,
            "automountServiceAccountToken": False,
            **({"serviceAccountName": r.service_account} if r.service_account else {}),
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": uid,
                "runAsGroup": uid,
                "fsGroup": uid,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "initContainers": [init, agent],
            "containers": [publish],
            "volumes": volumes,
        },
    }


def task_configmap(req: LaunchRequest, task: str) -> dict[str, Any]:
    r = req.resolved
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ids.task_configmap_name(r.name),
            "namespace": r.namespace,
            "labels": {ids.LABEL_POLECAT: r.name, ids.LABEL_MANAGED_BY: ids.MANAGED_BY},
            "ownerReferences": [_owner(req)],
        },
        "data": {TASK_KEY: task},
    }
