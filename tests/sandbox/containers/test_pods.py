"""Pods in container mode, through the real API and kubectl: the real polecat-agent image run
by podman, each container in its own mount namespace with the pod's securityContext."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gastown.sandbox import Sandbox
from tests.sandbox.containers.conftest import POLECAT_IMAGE, sandbox_containers
from tests.sandbox.waits import wait_until

pytestmark = [pytest.mark.containers, pytest.mark.usefixtures("containers")]

RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY = {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532, "runAsNonRoot": True}


def py(name: str, code: str, **kw: Any) -> dict[str, Any]:
    """A container of the real image running python3 (the image's venv) with `code`."""
    return {"name": name, "image": POLECAT_IMAGE, "command": ["python3", "-c", code], **kw}


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": list(containers), **spec},
    }


def apply(kubectl: Callable[..., Any], namespace: str, body: dict[str, Any]) -> None:
    result = kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(body))
    assert result.returncode == 0, result.stderr


def finished(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 60) -> Any:
    def done() -> Any:
        p = core.read_namespaced_pod(name, namespace)
        return p if p.status.phase in ("Succeeded", "Failed") else None

    return wait_until(done, timeout, f"pod {name} finished")


def logs(kubectl: Callable[..., Any], namespace: str, name: str, container: str) -> str:
    result = kubectl("logs", "-n", namespace, name, "-c", container)
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def waiting(core: client.CoreV1Api, namespace: str, name: str, reason: str) -> Any:
    def check() -> Any:
        p = core.read_namespaced_pod(name, namespace)
        statuses = (p.status.init_container_statuses or []) + (p.status.container_statuses or [])
        hits = [s for s in statuses if s.state.waiting and s.state.waiting.reason == reason]
        return hits[0] if hits else None

    return wait_until(check, 60, f"{name} waiting {reason}")


def test_init_order_shared_empty_dir_exit_code_logs_and_termination_message(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    write = (
        "import sys; open('/data/order','a').write(sys.argv[1] + '\\n'); print('init', sys.argv[1])"
    )
    main = (
        "import sys; order = open('/data/order').read().split();"
        "print('order', order); sys.stderr.write('to stderr\\n');"
        "open('/dev/termination-log','w').write('bye: ' + ','.join(order)); sys.exit(3)"
    )
    mount = [{"name": "data", "mountPath": "/data"}]
    init = [{**py(f"init-{i}", write), "args": [str(i)], "volumeMounts": mount} for i in (1, 2)]
    apply(
        kubectl,
        namespace,
        pod(
            "order",
            py("main", main, volumeMounts=mount),
            initContainers=init,
            volumes=[{"name": "data", "emptyDir": {}}],
        ),
    )
    p = finished(core, namespace, "order")
    assert p.status.phase == "Failed"
    [term] = [s.state.terminated for s in p.status.container_statuses]
    assert (term.exit_code, term.reason, term.message) == (3, "Error", "bye: 1,2")
    assert term.container_id.startswith("podman://")
    assert [s.state.terminated.exit_code for s in p.status.init_container_statuses] == [0, 0]
    assert logs(kubectl, namespace, "order", "init-2") == "init 2\n"
    out = logs(kubectl, namespace, "order", "main")
    assert "order ['1', '2']" in out
    assert "to stderr" in out


def test_fallback_to_logs_on_error(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    code = "import sys; print('last words'); sys.exit(2)"
    apply(
        kubectl,
        namespace,
        pod("fallback", py("c", code, terminationMessagePolicy="FallbackToLogsOnError")),
    )
    term = finished(core, namespace, "fallback").status.container_statuses[0].state.terminated
    assert (term.exit_code, term.message) == (2, "last words\n")


def test_command_and_args_follow_entrypoint_and_cmd(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    """args alone keep the image's ENTRYPOINT (tini, PID 1) and replace its CMD; command
    replaces the ENTRYPOINT."""
    probe = "import os; print(open('/proc/1/cmdline').read().split(chr(0))[0], os.getpid())"
    apply(
        kubectl,
        namespace,
        pod(
            "entry",
            {"name": "args-only", "image": POLECAT_IMAGE, "args": ["python3", "-c", probe]},
            py("command", probe),
        ),
    )
    finished(core, namespace, "entry")
    tini, pid = logs(kubectl, namespace, "entry", "args-only").split()
    assert tini == "/usr/bin/tini" and pid != "1"
    assert logs(kubectl, namespace, "entry", "command").split() == ["python3", "1"]


def test_security_context_is_applied(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    code = """
import os
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())
for key in ('Uid', 'Gid', 'Groups', 'CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp'):
    print(key, status[key].split())
for path in ('/etc/x', '/usr/x', '/x', '/tmp/x'):
    try:
        open(path, 'w')
        print('wrote', path)
    except OSError as exc:
        print('refused', path, exc.errno)
open('/work/made', 'w').write('x')
st = os.stat('/work/made')
print('volume file group', st.st_gid)
"""
    apply(
        kubectl,
        namespace,
        pod(
            "secure",
            py(
                "c",
                code,
                securityContext=RESTRICTED,
                volumeMounts=[{"name": "work", "mountPath": "/work"}],
            ),
            securityContext={**POD_SECURITY, "runAsGroup": 4000, "supplementalGroups": [5000]},
            volumes=[{"name": "work", "emptyDir": {}}],
        ),
    )
    p = finished(core, namespace, "secure")
    out = logs(kubectl, namespace, "secure", "c")
    assert p.status.phase == "Succeeded", out
    lines = set(out.splitlines())
    assert "Uid ['65532', '65532', '65532', '65532']" in lines
    assert "Gid ['4000', '4000', '4000', '4000']" in lines
    groups = next(line for line in lines if line.startswith("Groups"))
    assert "'65532'" in groups and "'5000'" in groups  # fsGroup and supplementalGroups
    assert "CapEff ['0000000000000000']" in lines
    assert "CapBnd ['0000000000000000']" in lines
    assert "NoNewPrivs ['1']" in lines
    assert "Seccomp ['2']" in lines  # a filter: podman's default profile
    # A read-only root, and no tmpfs on /tmp either (readOnlyRootFilesystem, no /tmp volume).
    for path in ("/etc/x", "/usr/x", "/x", "/tmp/x"):
        assert f"refused {path} 30" in lines, out  # EROFS
    assert "volume file group 65532" in lines  # fsGroup owns the emptyDir (setgid)


def test_capabilities_added_and_privilege_escalation_allowed(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    code = (
        "s = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines());"
        "print(s['CapBnd'].strip(), s['NoNewPrivs'].strip())"
    )
    sc = {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    apply(kubectl, namespace, pod("caps", py("c", code, securityContext=sc)))
    finished(core, namespace, "caps")
    # CAP_NET_BIND_SERVICE is bit 10: only it in the bounding set; escalation not forbidden.
    assert logs(kubectl, namespace, "caps", "c").split() == ["0000000000000400", "0"]


def test_a_container_sees_only_its_own_mounts(
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    namespace: str,
    containers: Sandbox,
) -> None:
    """The git Secret is mounted into git-init only. A hostile agent container, in the same
    pod and with the same user and groups, hunts for it everywhere it could be: its mount
    path, the host's volume directory, other processes' roots, a search of the filesystem."""
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="git"),
            data={"ssh-privatekey": base64.b64encode(b"CANARY-PRIVATE-KEY").decode()},
        ),
    )
    secret_dir = "/var/run/gastown/git"
    pod_dir = Path(containers.config.state_dir).resolve() / "pods"  # the host side of every volume
    hostile = f"""
import os, sys
tried = []
def attempt(path):
    try:
        with open(path, 'rb') as fh:
            data = fh.read()
        print('READ', path, data[:40])
    except OSError as exc:
        print('failed', path, type(exc).__name__)
for path in ['{secret_dir}/ssh-privatekey', '{secret_dir}/..data/ssh-privatekey']:
    attempt(path)
for root, dirs, files in os.walk('{pod_dir}'):
    for f in files:
        attempt(os.path.join(root, f))
attempt('{pod_dir}')
for pid in os.listdir('/proc'):
    if pid.isdigit():
        attempt(f'/proc/{{pid}}/root{secret_dir}/ssh-privatekey')
hits = []
for top in ('/var', '/run', '/tmp', '/home', '/workspace', '/root', '/etc', '/opt', '/mnt'):
    for root, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            try:
                if b'CANARY-PRIVATE-KEY' in open(p, 'rb').read(1 << 16):
                    hits.append(p)
            except OSError:
                pass
print('search hits', hits)
"""
    restricted_pod = {
        "securityContext": POD_SECURITY,
        "volumes": [
            {"name": "git-secret", "secret": {"secretName": "git", "defaultMode": 0o400}},
            {"name": "workspace", "emptyDir": {}},
        ],
    }
    init = py(
        "git-init",
        f"print('init read', open('{secret_dir}/ssh-privatekey').read())",
        securityContext=RESTRICTED,
        volumeMounts=[
            {"name": "git-secret", "mountPath": secret_dir, "readOnly": True},
            {"name": "workspace", "mountPath": "/workspace"},
        ],
    )
    agent = py(
        "claude",
        hostile,
        securityContext=RESTRICTED,
        volumeMounts=[{"name": "workspace", "mountPath": "/workspace"}],
    )
    apply(kubectl, namespace, pod("isolated", agent, initContainers=[init], **restricted_pod))
    p = finished(core, namespace, "isolated")
    assert p.status.phase == "Succeeded"
    # The Secret is really there, for the container that mounts it.
    assert logs(kubectl, namespace, "isolated", "git-init") == "init read CANARY-PRIVATE-KEY\n"
    out = logs(kubectl, namespace, "isolated", "claude")
    tried = [line.split()[1] for line in out.splitlines() if line.startswith("failed ")]
    assert f"{secret_dir}/ssh-privatekey" in tried, out
    assert str(pod_dir) in tried, out  # the host's pod directories do not exist in here
    assert any(t.startswith("/proc/1/root") for t in tried), out
    assert "READ" not in out, f"the agent container read a file it must not see:\n{out}"
    assert "search hits []" in out, out


def test_delete_sends_sigterm_then_sigkill_after_the_grace_period(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str, containers: Sandbox
) -> None:
    code = """
import signal, time
def term(*_):
    print('got SIGTERM, ignoring it', flush=True)
signal.signal(signal.SIGTERM, term)
print('ready', flush=True)
while True:
    time.sleep(0.1)
"""
    # command, not args: python is PID 1 and gets podman's SIGTERM itself (no tini between).
    apply(kubectl, namespace, pod("stubborn", py("c", code), terminationGracePeriodSeconds=2))
    wait_until(
        lambda: "ready" in kubectl("logs", "-n", namespace, "stubborn", "-c", "c").stdout,
        60,
        "container ready",
    )
    uid = core.read_namespaced_pod("stubborn", namespace).metadata.uid
    result = kubectl("delete", "pod", "stubborn", "-n", namespace, "--wait=false")
    assert result.returncode == 0, result.stderr

    def gone() -> bool:
        try:
            core.read_namespaced_pod("stubborn", namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, 60, "pod gone")
    # The log outlives the pod on the node (until the state directory goes).
    log = (
        Path(containers.config.state_dir)
        / "pods"
        / f"{namespace}_stubborn_{uid}"
        / "logs"
        / "c.log"
    )
    # SIGTERM first; it was ignored, so only the SIGKILL after the grace period ended it.
    assert log.read_text() == "ready\ngot SIGTERM, ignoring it\n"
    assert not sandbox_containers(containers)


def test_active_deadline_seconds(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    apply(
        kubectl,
        namespace,
        pod("slow", py("c", "import time; time.sleep(600)"), activeDeadlineSeconds=3),
    )
    p = finished(core, namespace, "slow")
    assert (p.status.phase, p.status.reason) == ("Failed", "DeadlineExceeded")
    term = p.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (137, "DeadlineExceeded")


def test_memory_limit_is_an_oom_kill(
    core: client.CoreV1Api,
    kubectl: Callable[..., Any],
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # conmon's `oom` marker must not land in the caller's CWD
    code = "x = bytearray(400 * 1024 * 1024); print('survived')"
    limits = {"resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}
    apply(kubectl, namespace, pod("hungry", py("c", code, **limits)))
    term = finished(core, namespace, "hungry").status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (137, "OOMKilled")
    assert "survived" not in logs(kubectl, namespace, "hungry", "c")
    assert list(tmp_path.iterdir()) == []


def test_unknown_image_is_an_image_pull_failure(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    image = "ghcr.io/gastown/no-such-image:0.0.0"
    apply(kubectl, namespace, pod("nope", {"name": "c", "image": image}))
    status = waiting(core, namespace, "nope", "ErrImagePull")
    assert image in status.state.waiting.message
    waiting(core, namespace, "nope", "ImagePullBackOff")
    assert core.read_namespaced_pod("nope", namespace).status.phase == "Pending"


@pytest.fixture
def host_repo() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="gt-containers-", dir="/tmp"))
    root.chmod(0o755)
    (root / "repo.git").mkdir()
    (root / "repo.git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "repo.git" / "objects").mkdir()
    (root / "plain").mkdir()
    (root / "plain" / "id_rsa").write_text("CANARY\n")
    (root / "unrelated").write_text("not for the pod\n")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_file_url_paths_are_mounted_into_the_containers_naming_them(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str, host_repo: Path
) -> None:
    repo = host_repo / "repo.git"
    code = (
        "import os; print(open(os.environ['REPO'][len('file://'):] + '/HEAD').read().strip());"
        f"print(os.path.exists('{host_repo}/unrelated'))"
    )
    other = f"import os; print(os.path.exists('{repo}'), os.path.exists('{host_repo}/plain'))"
    env = [{"name": "REPO", "value": f"file://{repo}"}]
    other_env = [{"name": "NOT_A_REPO", "value": f"file://{host_repo}/plain"}]
    apply(
        kubectl,
        namespace,
        pod("repo", py("uses", code, env=env), py("other", other, env=other_env)),
    )
    finished(core, namespace, "repo")
    assert logs(kubectl, namespace, "repo", "uses").split("\n")[:2] == [
        "ref: refs/heads/main",
        "False",
    ]
    # A file:// path that is not a git repository is never mounted (a Warning says so).
    assert logs(kubectl, namespace, "repo", "other") == "False False\n"


def test_the_pod_reaches_the_sandbox_api_over_the_host_network(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    code = (
        "import os, socket;"
        "s = socket.create_connection((os.environ['KUBERNETES_SERVICE_HOST'],"
        " int(os.environ['KUBERNETES_SERVICE_PORT'])), 5); print('connected'); s.close()"
    )
    apply(kubectl, namespace, pod("net", py("c", code)))
    assert finished(core, namespace, "net").status.phase == "Succeeded"
    assert logs(kubectl, namespace, "net", "c") == "connected\n"


def test_no_container_is_left_once_pods_are_over(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str, containers: Sandbox
) -> None:
    apply(kubectl, namespace, pod("brief", py("c", "print('done')")))
    finished(core, namespace, "brief")
    wait_until(lambda: not sandbox_containers(containers), 30, "the container removed")
    assert os.path.exists(containers.config.state_dir)


def test_missing_secrets_wait_as_in_process_mode_then_run(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    """A missing Secret in env is CreateContainerConfigError, in a volume ContainerCreating
    with FailedMount events; both retried, so the Secrets arriving lets the pods run."""
    env = [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "late-env", "key": "k"}}}]
    apply(kubectl, namespace, pod("envpod", py("c", "import os; print(os.environ['K'])", env=env)))
    status = waiting(core, namespace, "envpod", "CreateContainerConfigError")
    assert status.state.waiting.message == 'secret "late-env" not found'
    mount = [{"name": "s", "mountPath": "/s"}]
    apply(
        kubectl,
        namespace,
        pod(
            "volpod",
            py("c", "print(open('/s/k').read())", volumeMounts=mount),
            volumes=[{"name": "s", "secret": {"secretName": "late-vol"}}],
        ),
    )

    def failed_mount() -> bool:
        events = core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=volpod"
        ).items
        return any(e.reason == "FailedMount" for e in events)

    wait_until(failed_mount, 60, "FailedMount")
    waiting(core, namespace, "volpod", "ContainerCreating")
    for name, value in (("late-env", b"from env"), ("late-vol", b"from a volume")):
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=name),
                data={"k": base64.b64encode(value).decode()},
            ),
        )
    assert finished(core, namespace, "envpod").status.phase == "Succeeded"
    assert finished(core, namespace, "volpod").status.phase == "Succeeded"
    assert logs(kubectl, namespace, "envpod", "c") == "from env\n"
    assert logs(kubectl, namespace, "volpod", "c") == "from a volume\n"


def test_a_restarted_container_keeps_its_previous_log(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    code = (
        "import os, sys; first = not os.path.exists('/d/ran'); open('/d/ran', 'w').close();"
        "print('first run' if first else 'second run'); sys.exit(1 if first else 0)"
    )
    mount = [{"name": "d", "mountPath": "/d"}]
    apply(
        kubectl,
        namespace,
        pod(
            "again",
            py("c", code, volumeMounts=mount),
            restartPolicy="OnFailure",
            volumes=[{"name": "d", "emptyDir": {}}],
        ),
    )
    p = finished(core, namespace, "again")
    [status] = p.status.container_statuses
    assert (p.status.phase, status.restart_count) == ("Succeeded", 1)
    assert status.last_state.terminated.exit_code == 1
    assert logs(kubectl, namespace, "again", "c") == "second run\n"
    previous = kubectl("logs", "-n", namespace, "again", "-c", "c", "--previous")
    assert previous.stdout == "first run\n", previous.stderr


def test_multi_line_env_reaches_the_container_as_a_secret_and_is_removed(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    # A name the host's dynamic loader reads: it must reach the container, never podman.
    env = [{"name": "GCONV_PATH", "value": "line1\nline2"}, {"name": "PEM", "value": "a\nb"}]
    code = "import os; print(repr(os.environ['GCONV_PATH']), repr(os.environ['PEM']))"
    apply(kubectl, namespace, pod("multi", py("c", code, env=env)))
    assert finished(core, namespace, "multi").status.phase == "Succeeded"
    assert logs(kubectl, namespace, "multi", "c") == "'line1\\nline2' 'a\\nb'\n"
    uid = core.read_namespaced_pod("multi", namespace).metadata.uid

    def no_secret_left() -> bool:
        listed = subprocess.run(
            ["podman", "secret", "ls", "--format={{.Name}}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return uid not in listed

    assert wait_until(no_secret_left, what="no env secret left")


def test_a_subpath_symlink_planted_by_an_init_container_is_refused(
    core: client.CoreV1Api, kubectl: Callable[..., Any], namespace: str
) -> None:
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="planted"), string_data={"k": "CANARY"}),
    )
    volumes = [
        {"name": "ws", "emptyDir": {}},
        {"name": "s", "secret": {"secretName": "planted"}},
    ]
    # The init container sees the Secret at /s; its host dir is what `link` must not reach.
    plant = py(
        "plant",
        "import os; os.symlink('/', '/ws/root'); os.symlink('/s', '/ws/sec')",
        volumeMounts=[{"name": "ws", "mountPath": "/ws"}],
    )
    steal = py(
        "steal",
        "import os; print(os.listdir('/x'))",
        volumeMounts=[{"name": "ws", "mountPath": "/x", "subPath": "root"}],
    )
    apply(kubectl, namespace, pod("planted", steal, initContainers=[plant], volumes=volumes))
    status = waiting(core, namespace, "planted", "CreateContainerConfigError")
    assert "symbolic link" in status.state.waiting.message
    assert core.read_namespaced_pod("planted", namespace).status.phase == "Pending"
