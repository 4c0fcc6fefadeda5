"""The pod runner: phases, conditions, container statuses, env, volumes, outcomes."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from gastown.sandbox import Sandbox
from tests.sandbox.waits import wait_until

PY = sys.executable
# These pods run host commands (this interpreter) and scripted outcomes: sandbox only.
pytestmark = pytest.mark.usefixtures("sandbox")


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": list(containers), **spec},
    }


def py(name: str, code: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": "python:3.11", "command": [PY, "-c", code], **kw}


def finished(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 15) -> Any:
    def done() -> Any:
        p = core.read_namespaced_pod(name, namespace)
        return p if p.status.phase in ("Succeeded", "Failed") else None

    return wait_until(done, timeout, f"pod {name} finished")


def waiting_reason(
    core: client.CoreV1Api, namespace: str, name: str, reason: str, init: bool = False
) -> Any:
    def check() -> Any:
        p = core.read_namespaced_pod(name, namespace)
        statuses = (p.status.init_container_statuses if init else p.status.container_statuses) or []
        return (
            p
            if any(s.state.waiting and s.state.waiting.reason == reason for s in statuses)
            else None
        )

    return wait_until(check, 15, f"{name} waiting {reason}")


def test_phases_and_conditions_in_order(core: client.CoreV1Api, namespace: str) -> None:
    rv = core.list_namespaced_pod(namespace).metadata.resource_version
    core.create_namespaced_pod(namespace, pod("p", py("c", "print('hi')")))
    phases: list[str] = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_pod, namespace, resource_version=rv, timeout_seconds=15
    ):
        status = ev["raw_object"].get("status") or {}
        if not phases or phases[-1] != status.get("phase"):
            phases.append(status.get("phase"))
        if status.get("phase") == "Succeeded":
            w.stop()
    assert phases[0] == "Pending"
    assert phases[-1] == "Succeeded"
    assert "Running" in phases
    final = core.read_namespaced_pod("p", namespace)
    assert final.spec.node_name == "sandbox-node"
    conditions = {c.type: (c.status, c.reason) for c in final.status.conditions}
    assert conditions["PodScheduled"] == ("True", None)
    assert conditions["Initialized"][0] == "True"
    assert conditions["Ready"] == ("False", "PodCompleted")
    assert conditions["ContainersReady"] == ("False", "PodCompleted")
    term = final.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (0, "Completed")


def test_running_pod_is_ready(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod("r", py("c", "import time; time.sleep(30)")))

    def ready() -> Any:
        p = core.read_namespaced_pod("r", namespace)
        conds = {c.type: c.status for c in p.status.conditions or []}
        return p if p.status.phase == "Running" and conds.get("Ready") == "True" else None

    p = wait_until(ready, what="pod ready")
    assert p.status.container_statuses[0].state.running.started_at is not None
    core.delete_namespaced_pod("r", namespace, grace_period_seconds=0)


def test_init_containers_then_main_with_env_and_volumes(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cret", "other": "x"}}
    )
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "cfg"}, "data": {"MODE": "fast", "file.txt": "from configmap"}},
    )
    init = py(
        "init",
        "import os; open(os.environ['WS'] + '/seed', 'w').write('seeded')",
        env=[{"name": "WS", "value": "/workspace"}],
        volumeMounts=[{"name": "ws", "mountPath": "/workspace"}],
    )
    code = (
        "import os, json, stat; ws = os.environ['WS']; "
        "print(open(ws + '/seed').read()); "
        "print(os.environ['GREETING']); print(os.environ['TOKEN']); "
        "print(os.environ['MY_POD'], os.environ['MY_NS'] == os.environ['EXPECT_NS']); "
        "print(os.environ['CFG_MODE']); "
        "print(open('/etc/creds/tok').read()); "
        "print(oct(stat.S_IMODE(os.stat('/etc/creds/tok').st_mode))); "
        "print(os.path.exists('/etc/creds/other')); "
        "print(open('/etc/cfg/file.txt').read()); print(os.getcwd() == ws)"
    )
    main = py(
        "main",
        code,
        args=[],
        workingDir="/workspace",
        env=[
            {"name": "WS", "value": "/workspace"},
            {"name": "NAME", "value": "world"},
            {"name": "GREETING", "value": "hello $(NAME) $$(NAME)"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "MY_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "EXPECT_NS", "value": namespace},
        ],
        envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        volumeMounts=[
            {"name": "ws", "mountPath": "/workspace"},
            {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
            {"name": "cfg", "mountPath": "/etc/cfg"},
        ],
    )
    # The inline script names container paths; the runner rewrites them to host paths.
    main["command"][-1] = code
    volumes = [
        {"name": "ws", "emptyDir": {}},
        {
            "name": "creds",
            "secret": {
                "secretName": "creds",
                "defaultMode": 0o400,
                "items": [{"key": "token", "path": "tok"}],
            },
        },
        {"name": "cfg", "projected": {"sources": [{"configMap": {"name": "cfg"}}]}},
    ]
    core.create_namespaced_pod(namespace, pod("cfg", main, initContainers=[init], volumes=volumes))
    p = finished(core, namespace, "cfg")
    logs = core.read_namespaced_pod_log("cfg", namespace, container="main")
    assert p.status.phase == "Succeeded", logs
    assert logs.splitlines() == [
        "seeded",
        "hello world $(NAME)",
        "s3cret",
        "cfg True",
        "fast",
        "s3cret",
        "0o400",
        "False",
        "from configmap",
        "True",
    ]
    init_state = p.status.init_container_statuses[0].state.terminated
    assert (init_state.exit_code, init_state.reason) == (0, "Completed")


def test_termination_message_and_exit_code(core: client.CoreV1Api, namespace: str) -> None:
    code = (
        "import os, sys; open(os.environ['TERM_LOG'], 'w').write('{\"outcome\": \"x\"}' + "
        "'y' * 10000); sys.exit(3)"
    )
    core.create_namespaced_pod(
        namespace,
        pod("t", py("c", code, env=[{"name": "TERM_LOG", "value": "/dev/termination-log"}])),
    )
    p = finished(core, namespace, "t")
    assert p.status.phase == "Failed"
    term = p.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (3, "Error")
    assert term.message.startswith('{"outcome": "x"}')
    assert len(term.message.encode()) == 4096  # capped as the kubelet does


def test_missing_secret_is_create_container_config_error(
    core: client.CoreV1Api, namespace: str
) -> None:
    env = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "later", "key": "k"}}}]
    core.create_namespaced_pod(
        namespace, pod("m", py("c", "import os; print(os.environ['T'])", env=env))
    )
    p = waiting_reason(core, namespace, "m", "CreateContainerConfigError")
    assert p.status.phase == "Pending"
    assert 'secret "later" not found' in p.status.container_statuses[0].state.waiting.message
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "later"}, "stringData": {"other": "v"}}
    )
    p = waiting_reason(core, namespace, "m", "CreateContainerConfigError")
    wait_until(
        lambda: (
            "couldn't find key k"
            in (
                core.read_namespaced_pod("m", namespace)
                .status.container_statuses[0]
                .state.waiting.message
                or ""
            )
        ),
        what="missing key message",
    )
    core.patch_namespaced_secret("later", namespace, {"stringData": {"k": "arrived"}})
    p = finished(core, namespace, "m")
    assert p.status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("m", namespace) == "arrived\n"


def test_image_pull_failures(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace, pod("pull", {"name": "c", "image": "registry.invalid/x:1"})
    )
    waiting_reason(core, namespace, "pull", "ErrImagePull")
    p = waiting_reason(core, namespace, "pull", "ImagePullBackOff")
    assert p.status.phase == "Pending"
    core.create_namespaced_pod(namespace, pod("bad", {"name": "c", "image": "UPPER/Case!"}))
    p = waiting_reason(core, namespace, "bad", "InvalidImageName")
    assert p.status.phase == "Pending"


def test_unschedulable_when_requests_exceed_capacity(
    core: client.CoreV1Api, namespace: str
) -> None:
    big = py("c", "pass", resources={"requests": {"cpu": "64", "memory": "1Gi"}})
    core.create_namespaced_pod(namespace, pod("big", big))

    def unschedulable() -> Any:
        p = core.read_namespaced_pod("big", namespace)
        conds = {c.type: c for c in p.status.conditions or []}
        c = conds.get("PodScheduled")
        return p if c is not None and c.reason == "Unschedulable" else None

    p = wait_until(unschedulable, what="Unschedulable")
    assert p.status.phase == "Pending"
    assert p.spec.node_name is None
    cond = next(c for c in p.status.conditions if c.type == "PodScheduled")
    assert cond.status == "False"
    assert "Insufficient cpu" in cond.message


def test_active_deadline_exceeded(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace, pod("dl", py("c", "import time; time.sleep(60)"), activeDeadlineSeconds=1)
    )
    p = finished(core, namespace, "dl")
    assert p.status.phase == "Failed"
    assert p.status.reason == "DeadlineExceeded"
    assert p.status.container_statuses[0].state.terminated.reason == "DeadlineExceeded"


def test_oom_killed_over_memory_limit(core: client.CoreV1Api, namespace: str) -> None:
    hog = py(
        "c",
        "import time; x = bytearray(200 * 1024 * 1024); time.sleep(30)",
        resources={"limits": {"memory": "64Mi"}},
    )
    core.create_namespaced_pod(namespace, pod("oom", hog))
    p = finished(core, namespace, "oom")
    term = p.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (137, "OOMKilled")


def test_deletion_sends_sigterm_then_waits(core: client.CoreV1Api, namespace: str) -> None:
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n print('got SIGTERM', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\ntime.sleep(60)"
    )
    core.create_namespaced_pod(namespace, pod("g", py("c", code), terminationGracePeriodSeconds=10))
    wait_until(lambda: core.read_namespaced_pod_log("g", namespace) == "ready\n", what="ready line")
    core.delete_namespaced_pod("g", namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_pod("g", namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, what="pod removed after SIGTERM")


def test_deletion_sigkills_after_grace(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(60)"
    )
    core.create_namespaced_pod(namespace, pod("k", py("c", code), terminationGracePeriodSeconds=1))
    wait_until(lambda: core.read_namespaced_pod_log("k", namespace) == "ready\n", what="ready line")
    pid = int(
        core.read_namespaced_pod("k", namespace)
        .status.container_statuses[0]
        .container_id.split("//")[1]
    )
    core.delete_namespaced_pod("k", namespace)
    held = core.read_namespaced_pod("k", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.deletion_grace_period_seconds == 1

    def gone() -> bool:
        try:
            core.read_namespaced_pod("k", namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, what="pod removed after SIGKILL")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_run_as_user_drops_privileges(core: client.CoreV1Api, namespace: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("runAsUser is honoured only when the runner is root")
    # /bin/sh, not this interpreter: the test's Python may live under a private home.
    core.create_namespaced_pod(
        namespace,
        pod(
            "u",
            {
                "name": "c",
                "image": "busybox",
                "command": ["/bin/sh", "-c", 'echo "$(id -u) $(id -g)"'],
            },
            securityContext={"runAsUser": 1234, "runAsGroup": 2345},
        ),
    )
    assert finished(core, namespace, "u").status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("u", namespace) == "1234 2345\n"


def test_logs_follow_and_tail(core: client.CoreV1Api, namespace: str) -> None:
    code = "import time\nfor i in range(5):\n print(i, flush=True)\n time.sleep(0.1)"
    core.create_namespaced_pod(namespace, pod("f", py("c", code)))
    waiting = wait_until(
        lambda: (
            core.read_namespaced_pod("f", namespace).status.container_statuses[0].state.waiting
            is None
        ),
        what="started",
    )
    assert waiting
    resp = core.read_namespaced_pod_log("f", namespace, follow=True, _preload_content=False)
    assert resp.read().decode() == "0\n1\n2\n3\n4\n"
    assert core.read_namespaced_pod_log("f", namespace, tail_lines=2) == "3\n4\n"


def test_restart_policy_on_failure_restarts(core: client.CoreV1Api, namespace: str) -> None:
    code = (
        "import os, sys; p = os.environ['WS'] + '/n'; "
        "n = int(open(p).read()) if os.path.exists(p) else 0; open(p, 'w').write(str(n+1)); "
        "sys.exit(0 if n >= 1 else 1)"
    )
    spec = pod(
        "rs",
        py(
            "c",
            code,
            env=[{"name": "WS", "value": "/ws"}],
            volumeMounts=[{"name": "ws", "mountPath": "/ws"}],
        ),
        volumes=[{"name": "ws", "emptyDir": {}}],
    )
    spec["spec"]["restartPolicy"] = "OnFailure"
    core.create_namespaced_pod(namespace, spec)
    p = finished(core, namespace, "rs")
    assert p.status.phase == "Succeeded"
    cs = p.status.container_statuses[0]
    assert cs.restart_count == 1
    assert cs.last_state.terminated.exit_code == 1


def test_previous_logs_after_restart(core: client.CoreV1Api, namespace: str) -> None:
    code = (
        "import os, sys; p = os.environ['WS'] + '/n'; "
        "n = int(open(p).read()) if os.path.exists(p) else 0; open(p, 'w').write(str(n+1)); "
        "print('attempt', n); sys.exit(0 if n >= 1 else 1)"
    )
    spec = pod(
        "prev",
        py(
            "c",
            code,
            env=[{"name": "WS", "value": "/ws"}],
            volumeMounts=[{"name": "ws", "mountPath": "/ws"}],
        ),
        volumes=[{"name": "ws", "emptyDir": {}}],
    )
    spec["spec"]["restartPolicy"] = "OnFailure"
    core.create_namespaced_pod(namespace, spec)
    assert finished(core, namespace, "prev").status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("prev", namespace) == "attempt 1\n"
    assert core.read_namespaced_pod_log("prev", namespace, previous=True) == "attempt 0\n"


def test_image_without_command_uses_image_commands(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.config.image_commands["example.test/echo:*"] = [
        PY,
        "-c",
        "import sys; print(sys.argv[1:])",
    ]
    try:
        core.create_namespaced_pod(
            namespace,
            pod(
                "img",
                {
                    "name": "c",
                    "image": "example.test/echo:1",
                    "args": ["a", "$(X)"],
                    "env": [{"name": "X", "value": "expanded"}],
                },
            ),
        )
        assert finished(core, namespace, "img").status.phase == "Succeeded"
        assert core.read_namespaced_pod_log("img", namespace) == "['a', 'expanded']\n"
    finally:
        del sandbox.config.image_commands["example.test/echo:*"]
    core.create_namespaced_pod(namespace, pod("nocmd", {"name": "c", "image": "busybox:1"}))
    p = finished(core, namespace, "nocmd")
    term = p.status.container_statuses[0].state.terminated
    assert (p.status.phase, term.reason, term.exit_code) == ("Failed", "StartError", 128)
    assert "no command for image" in term.message


def test_fallback_to_logs_on_error(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace,
        pod(
            "fb",
            py(
                "c",
                "import sys; print('first'); print('boom'); sys.exit(2)",
                terminationMessagePolicy="FallbackToLogsOnError",
            ),
        ),
    )
    term = finished(core, namespace, "fb").status.container_statuses[0].state.terminated
    assert (term.exit_code, term.message) == (2, "first\nboom\n")


def test_eviction_and_node_loss(sandbox: Sandbox, core: client.CoreV1Api, namespace: str) -> None:
    for name in ("ev", "nl"):
        core.create_namespaced_pod(
            namespace,
            pod(name, py("c", "import time; time.sleep(60)"), terminationGracePeriodSeconds=1),
        )
    for name in ("ev", "nl"):
        wait_until(
            lambda n=name: core.read_namespaced_pod(n, namespace).status.phase == "Running",
            what=f"{name} running",
        )
    evicted = sandbox.run(sandbox.kubelet.evict(namespace, "ev"))
    assert evicted["status"]["phase"] == "Failed"
    assert evicted["status"]["reason"] == "Evicted"
    rv = core.read_namespaced_pod("nl", namespace).metadata.resource_version
    lost = sandbox.run(sandbox.kubelet.lose_node())
    try:
        assert "nl" in lost
        seen: list[tuple[str, str | None]] = []
        for ev in watch.Watch().stream(
            core.list_namespaced_pod,
            namespace,
            resource_version=rv,
            field_selector="metadata.name=nl",
            timeout_seconds=10,
        ):
            status = ev["raw_object"].get("status") or {}
            seen.append((ev["type"], status.get("reason")))
            if ev["type"] == "DELETED":
                break
        assert ("MODIFIED", "NodeLost") in seen
        assert seen[-1][0] == "DELETED"
        node = core.read_node("sandbox-node")
        assert node.status.conditions[0].status == "Unknown"
    finally:
        sandbox.call(sandbox.kubelet.restore_node)


def test_run_as_non_root_without_user_is_refused_for_a_root_runner(
    core: client.CoreV1Api, namespace: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("only a root runner would run the image as root")
    core.create_namespaced_pod(
        namespace, pod("nr", py("c", "pass"), securityContext={"runAsNonRoot": True})
    )
    p = waiting_reason(core, namespace, "nr", "CreateContainerConfigError")
    assert "runAsNonRoot and image will run as root" in (
        p.status.container_statuses[0].state.waiting.message
    )


def test_tmp_volume_becomes_tmpdir(core: client.CoreV1Api, namespace: str) -> None:
    code = "import os, tempfile; print(tempfile.gettempdir() == os.environ['MARK'])"
    core.create_namespaced_pod(
        namespace,
        pod(
            "tmp",
            py(
                "c",
                code,
                env=[{"name": "MARK", "value": "/tmp"}],
                volumeMounts=[{"name": "t", "mountPath": "/tmp"}],
            ),
            volumes=[{"name": "t", "emptyDir": {}}],
        ),
    )
    assert finished(core, namespace, "tmp").status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("tmp", namespace) == "True\n"


def test_deleted_pod_leaves_no_secret_on_disk(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    from gastown.sandbox import layout

    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "s"}, "stringData": {"token": "t0ps3cret"}}
    )
    core.create_namespaced_pod(
        namespace,
        pod(
            "vol",
            py("c", "pass", volumeMounts=[{"name": "s", "mountPath": "/s"}]),
            volumes=[{"name": "s", "secret": {"secretName": "s"}}],
        ),
    )
    p = finished(core, namespace, "vol")
    raw = {"metadata": {"namespace": namespace, "name": "vol", "uid": p.metadata.uid}}
    volume = layout.pod_dir(sandbox.config.state_dir, raw) / "volumes" / "s" / "token"
    assert volume.read_text() == "t0ps3cret"
    core.delete_namespaced_pod("vol", namespace)
    wait_until(lambda: not volume.exists(), what="secret volume removed")


def test_mount_paths_are_rewritten_once(core: client.CoreV1Api, namespace: str) -> None:
    """A mount at /tmp must not re-map the host path of another mount (host paths live under
    /tmp too), neither in env values nor in $(VAR)-expanded args."""
    code = (
        "import os, sys; ws = os.environ['WS']; "
        "open(os.path.join(ws, 'ok'), 'w').write(sys.argv[1]); "
        "open(os.environ['TERM_LOG'], 'w').write(ws + '|' + sys.argv[1])"
    )
    container = py(
        "c",
        code,
        args=["$(WS)/from-arg"],
        env=[
            {"name": "WS", "value": "/workspace"},
            {"name": "TERM_LOG", "value": "/dev/termination-log"},
        ],
        volumeMounts=[
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "ws", "mountPath": "/workspace"},
        ],
    )
    core.create_namespaced_pod(
        namespace,
        pod(
            "rw",
            container,
            volumes=[{"name": "tmp", "emptyDir": {}}, {"name": "ws", "emptyDir": {}}],
        ),
    )
    p = finished(core, namespace, "rw")
    assert p.status.phase == "Succeeded", p.status.container_statuses[0].state.terminated.message
    ws, arg = p.status.container_statuses[0].state.terminated.message.split("|")
    assert ws.endswith("/volumes/ws")
    assert ws.count("/volumes/") == 1
    assert arg == ws + "/from-arg"


def test_image_that_becomes_pullable_starts(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, pod("later", py("c", "pass", image="img:pull-fails")))
    waiting_reason(core, namespace, "later", "ImagePullBackOff")
    before = sandbox.config.pull_failing_images
    sandbox.config.pull_failing_images = ()
    try:
        assert finished(core, namespace, "later").status.phase == "Succeeded"
    finally:
        sandbox.config.pull_failing_images = before


def test_host_paths_under_a_mounted_prefix_are_left_alone() -> None:
    """The runner's own programs may live under /tmp (a CI checkout); a pod mounting /tmp
    must still be able to run them."""
    from gastown.sandbox.podworker import PodWorker

    host_dir = Path(tempfile.mkdtemp(dir="/tmp"))
    program = host_dir / "prog"
    program.write_text("")
    pairs = [("/workspace", "/state/ws"), ("/tmp", "/state/tmp")]
    assert PodWorker.rewrite(f"{program} /tmp/out /workspace/x", pairs) == (
        f"{program} /state/tmp/out /state/ws/x"
    )
    assert PodWorker.rewrite("TMPDIR=/tmp", pairs) == "TMPDIR=/state/tmp"


def test_instant_images_finish_at_once_with_their_message(
    sandbox: Sandbox, core: client.CoreV1Api, namespace: str
) -> None:
    sandbox.config.instant_images = {"instant.local/*": '{"outcome": "completed"}'}
    try:
        core.create_namespaced_pod(
            namespace,
            pod("fast", {"name": "c", "image": "instant.local/agent:1", "command": ["/no/such"]}),
        )
        p = finished(core, namespace, "fast")
    finally:
        sandbox.config.instant_images = {}
    term = p.status.container_statuses[0].state.terminated
    assert (p.status.phase, term.exit_code, term.message) == (
        "Succeeded",
        0,
        '{"outcome": "completed"}',
    )


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_sandbox_error_kills_the_sibling_containers(
    core: client.CoreV1Api, namespace: str
) -> None:
    # "b" cannot start for a reason the sandbox does not expect (its working directory is
    # below a file the init container wrote): the pod fails with SandboxError, and "a",
    # started beside it, must not be left running.
    marker = f"sibling-{os.getpid()}-{namespace}"
    mount = [{"name": "ws", "mountPath": "/ws"}]
    init = py("i", "open('/ws/f', 'w').close()", volumeMounts=mount)
    a = py("a", f"import time; time.sleep(600)  # {marker}", volumeMounts=mount)
    b = py("b", "pass", volumeMounts=mount, workingDir="/ws/f/below")
    core.create_namespaced_pod(
        namespace,
        pod("crash", a, b, initContainers=[init], volumes=[{"name": "ws", "emptyDir": {}}]),
    )
    p = finished(core, namespace, "crash")
    assert (p.status.phase, p.status.reason) == ("Failed", "SandboxError")
    assert wait_until(lambda: not _processes_with(marker), what="sibling a killed")
