"""A hostile agent in the real pod, in real containers: it holds the model credential and none
of the git or forge Secrets, however it looks for them (issue 13, "split the pod").

Container mode only: in process mode every container is a process of the same host user and
proves nothing about mount namespaces. The agent is a `command` agent (python3 from the
polecat image) that tries every way in it has, names each attempt, and writes what it read to
a file in the workspace, which the publisher then commits and pushes like any work.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import ClusterKube, Result

pytestmark = [pytest.mark.containers]

GIT_TOKEN = "ghs_GITCANARY0123456789abcdefghijkl"  # canaries, not credentials
GIT_PASSWORD = "GITPASSWORDCANARY-9876543210"
FORGE_TOKEN = "ghp_FORGECANARY0123456789abcdefghijk"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nSSHKEYCANARY0123456789abcdef\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
API_KEY = "sk-ant-api03-MODELCANARY-0123456789abcdef"
SECRETS = {
    "ssh key": "SSHKEYCANARY0123456789abcdef",
    "git token": GIT_TOKEN,
    "git password": GIT_PASSWORD,
    "forge token": FORGE_TOKEN,
}

# Every attempt is named; the report (findings.json, pushed with the work) maps each name to
# what came of it, and `content` holds all the bytes the agent managed to read.
HOSTILE_AGENT = r"""
import json, os, sys
sys.stdin.read()
attempts, content = {}, []

def grab(name, path):
    try:
        with open(path, 'rb') as fh:
            data = fh.read(1 << 16)
    except OSError as exc:
        attempts[name] = f'failed: {type(exc).__name__}'
        return
    attempts[name] = f'read {len(data)} bytes'
    content.append(data.decode(errors='replace'))

def walk(name, top):
    seen = 0
    for root, dirs, files in os.walk(top):
        for f in files:
            seen += 1
            grab(f'{name}: {os.path.join(root, f)}', os.path.join(root, f))
    attempts[name] = f'walked {seen} files'

# 1. The git and forge Secrets where the other containers have them.
for path in ('/var/run/gastown/git/token', '/var/run/gastown/git/password',
             '/var/run/gastown/git/ssh-privatekey',
             '/var/run/gastown/git/..data/token', '/var/run/gastown/forge/token',
             '/home/polecat/.ssh/gt_identity', '/home/polecat/.git-credentials'):
    grab(f'secret path {path}', path)
# 2. Every mounted path, from our own mount table.
mounts = open('/proc/self/mountinfo').read().split('\n')
for line in mounts:
    fields = line.split()
    tops = ('/var/run', '/run', '/home', '/tmp')
    if len(fields) > 4 and fields[4].startswith(tops):
        walk(f'mount {fields[4]}', fields[4])
walk('tree /var/run/gastown', '/var/run/gastown')
# 3. Other processes: their environment and their root's view of the Secrets.
for pid in sorted(p for p in os.listdir('/proc') if p.isdigit()):
    grab(f'/proc/{pid}/environ', f'/proc/{pid}/environ')
    for secret in ('git/token', 'git/password', 'git/ssh-privatekey', 'forge/token'):
        path = f'/proc/{pid}/root/var/run/gastown/{secret}'
        grab(path, path)
# 4. Our own environment.
attempts['own environment'] = f'{len(os.environ)} variables'
content.append(json.dumps(dict(os.environ)))
# 5. The git containers' home (git-init copies credentials there).
walk('tree /home', '/home')
with open('findings.json', 'w') as fh:
    json.dump({'attempts': attempts, 'content': content}, fh)
print(json.dumps({'attempted': sorted(attempts)}))
"""


def secret(core: client.CoreV1Api, namespace: str, name: str, data: dict[str, str]) -> None:
    core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data)
    )


def git_out(origin: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(origin), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    "pod_mode", [pytest.param("containers", marks=pytest.mark.containers)], indirect=True
)
@pytest.mark.usefixtures("pod_mode")
async def test_a_hostile_agent_finds_no_git_or_forge_secret(
    gt: Callable[..., Awaitable[Result]],
    rig_factory: Callable[..., str],
    namespace: str,
    origin: Path,
    core: client.CoreV1Api,
    kube: ClusterKube,
    kubectl: Callable[..., Any],
) -> None:
    secret(
        core,
        namespace,
        "git",
        {"ssh-privatekey": SSH_KEY, "token": GIT_TOKEN, "password": GIT_PASSWORD},
    )
    secret(core, namespace, "forge", {"token": FORGE_TOKEN})
    secret(core, namespace, "anthropic", {"api-key": API_KEY})
    rig = rig_factory(
        agentConfig={"command": ["python3", "-c", HOSTILE_AGENT]},
        gitSecretRef={"name": "git"},
        forgeTokenSecretRef={"name": "forge", "key": "token"},
        apiKeySecretRef={"name": "anthropic", "key": "api-key"},
    )
    result = await gt(
        "sling",
        "dm-0001",
        rig,
        "--name",
        "slit",
        "--agent",
        "command",
        "--wait",
        "--timeout",
        "240",
    )
    logs = {
        c: (await gt("polecat", "logs", f"{rig}/slit", "-c", c)).out
        for c in ("git-init", "claude", "publish")
    }
    assert result.code == 0, (result.err, logs)

    # The push still reaches the repository, and the polecat is Done.
    polecat = await kube.get_polecat(namespace, "slit")
    assert (polecat["status"]["phase"], polecat["status"]["outcome"]) == ("Done", "completed")
    branch = polecat["status"]["branch"]
    head = git_out(origin, "rev-parse", f"refs/heads/{branch}").strip()
    assert polecat["status"]["commit"] == head
    findings = json.loads(git_out(origin, "show", f"{head}:findings.json"))
    attempts: dict[str, str] = findings["attempts"]
    read = "\n".join(findings["content"])

    # Each attempt was made, and those aimed at the Secrets found nothing.
    for path in (
        "/var/run/gastown/git/token",
        "/var/run/gastown/git/password",
        "/var/run/gastown/git/ssh-privatekey",
        "/var/run/gastown/git/..data/token",
        "/var/run/gastown/forge/token",
        "/home/polecat/.ssh/gt_identity",
    ):
        assert attempts[f"secret path {path}"].startswith("failed"), (path, attempts)
    proc = [a for a in attempts if a.startswith("/proc/")]
    assert any(a.endswith("/environ") for a in proc), attempts
    assert any("/root/var/run/gastown/git/token" in a for a in proc), attempts
    assert not [a for a in proc if "/root/" in a and not attempts[a].startswith("failed")]
    # Its mount table holds one of ours under /var/run/gastown (a symlink to /run): the report.
    ours = {a for a in attempts if a.startswith("mount ") and ":" not in a and "gastown" in a}
    assert ours == {"mount /run/gastown/agent-result"}, sorted(attempts)
    assert attempts["own environment"]
    # The search works: it did find the one credential this container holds.
    assert API_KEY in read, "the agent's own model key is missing: the search proves nothing"

    # No git or forge secret anywhere: what the agent read, the pushed repository (every
    # object), every container's log, the termination messages, the CR, the Events.
    pod = core.read_namespaced_pod("polecat-slit-1", namespace)
    statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
    places = {
        "what the agent read": read,
        "findings.json": json.dumps(findings),
        "pushed commits": git_out(origin, "log", "--all", "-p", "--format=%H %an %s%n%b"),
        "termination messages": json.dumps(
            [s.state.terminated.message for s in statuses if s.state.terminated]
        ),
        "polecat CR": json.dumps(polecat),
        "events": kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
        **{f"logs {c}": text for c, text in logs.items()},
    }
    for where, text in places.items():
        assert text, f"{where} is empty: the search would prove nothing"
        for what, value in SECRETS.items():
            assert value not in text, f"the {what} leaked into {where}"
