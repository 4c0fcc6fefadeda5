"""The polecat pod, built from a resolved spec: pure data, so every field has a test.

Shape as in the seed's guide: init container `git-init` (`gt-polecat init`) clones into a
shared workspace, container `claude` (`gt-polecat run`) runs the agent, pushes and reports.
Values reach the runtime only through env vars and mounted files (docs/runtime.md is the
contract); credentials only through Secret volumes and secretKeyRef, never as literal values.
The security context meets the restricted Pod Security profile.
"""

from __future__ import annotations

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
TASK_KEY: Final = "task.md"
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
    r = req.resolved
    volumes: list[dict[str, Any]] = [
        {"name": "workspace", "emptyDir": {"sizeLimit": "10Gi"}},
        {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, the pod's own /tmp
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
    container: dict[str, Any] = {
        "image": r.image,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "volumeMounts": mounts,
        "workingDir": WORKSPACE,
        "securityContext": _container_security(),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
    }
    # `args`, not `command`: the image's ENTRYPOINT (tini, PID 1, reaping the agent's
    # stray children) runs and execs gt-polecat.
    init = {**container, "name": "git-init", "args": ["gt-polecat", "init"]}
    main = {**container, "name": "claude", "args": ["gt-polecat", "run"]}
    if r.resources:
        main["resources"] = r.resources
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
            "initContainers": [init],
            "containers": [main],
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
