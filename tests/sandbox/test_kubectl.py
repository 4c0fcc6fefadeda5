"""The real kubectl binary against the cluster: apply, get (Table), get -w, describe, delete,
logs, explain."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable

from kubernetes import client

from tests.conftest import KUBECTL, Cluster
from tests.sandbox.waits import wait_until

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

POLECAT = textwrap.dedent("""\
    apiVersion: gastown.gastown.io/v1alpha1
    kind: Polecat
    metadata:
      name: furiosa
    spec:
      rig: myrig
      beadID: dm-0001
      taskDescription: {task}
    """)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_apply_creates_then_configures(
    kubectl: Kubectl, custom: client.CustomObjectsApi, namespace: str
) -> None:
    out = ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=POLECAT.format(task="first")))
    assert "polecat.gastown.gastown.io/furiosa created" in out
    first = custom.get_namespaced_custom_object(
        "gastown.gastown.io", "v1alpha1", namespace, "polecats", "furiosa"
    )
    assert first["spec"]["desiredState"] == "Idle"  # CRD default applied
    assert "kubectl.kubernetes.io/last-applied-configuration" in first["metadata"]["annotations"]
    out = ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=POLECAT.format(task="second")))
    assert "configured" in out
    second = custom.get_namespaced_custom_object(
        "gastown.gastown.io", "v1alpha1", namespace, "polecats", "furiosa"
    )
    assert second["spec"]["taskDescription"] == "second"
    assert second["metadata"]["generation"] == 2
    out = ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=POLECAT.format(task="second")))
    assert "unchanged" in out


def test_apply_rejected_by_schema_shows_field(kubectl: Kubectl, namespace: str) -> None:
    bad = POLECAT.format(task="x").replace("dm-0001", "Not A Bead")
    result = kubectl("apply", "-n", namespace, "-f", "-", stdin=bad)
    assert result.returncode != 0
    assert "spec.beadID" in result.stderr
    assert "is invalid" in result.stderr


def test_apply_builtin_with_strategic_merge(
    kubectl: Kubectl, core: client.CoreV1Api, namespace: str
) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: '1'\n"
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=secret))
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=secret.replace("'1'", "'2'")))
    assert core.read_namespaced_secret("s", namespace).data == {"a": "Mg=="}


def test_get_prints_crd_columns(
    kubectl: Kubectl, custom: client.CustomObjectsApi, namespace: str
) -> None:
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=POLECAT.format(task="t")))
    custom.patch_namespaced_custom_object_status(
        "gastown.gastown.io",
        "v1alpha1",
        namespace,
        "polecats",
        "furiosa",
        {"status": {"phase": "Working", "podName": "furiosa-1"}},
    )
    out = ok(kubectl("get", "polecats", "-n", namespace))
    header, row = out.splitlines()
    assert header.split() == ["NAME", "RIG", "PHASE", "BEAD", "POD", "AGE"]
    assert row.split()[:5] == ["furiosa", "myrig", "Working", "dm-0001", "furiosa-1"]
    wide = ok(kubectl("get", "pc", "-n", namespace, "-o", "wide")).splitlines()[0].split()
    assert wide[-2:] == ["WORKFLOW", "BRANCH"]
    names = ok(kubectl("get", "gastown", "-n", namespace, "-o", "name"))
    assert "polecat.gastown.gastown.io/furiosa" in names


def test_get_watch_streams_changes(
    cluster: Cluster, custom: client.CustomObjectsApi, namespace: str
) -> None:
    ok(cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=POLECAT.format(task="t")))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    with subprocess.Popen(
        [KUBECTL, "get", "polecats", "-n", namespace, "-w", "--request-timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            header = proc.stdout.readline()
            assert header.split()[:3] == ["NAME", "RIG", "PHASE"]
            assert proc.stdout.readline().split()[0] == "furiosa"
            custom.patch_namespaced_custom_object_status(
                "gastown.gastown.io",
                "v1alpha1",
                namespace,
                "polecats",
                "furiosa",
                {"status": {"phase": "Done"}},
            )
            changed = proc.stdout.readline().split()
            assert changed[:3] == ["furiosa", "myrig", "Done"]
        finally:
            proc.kill()


def test_describe_shows_spec_and_events(
    kubectl: Kubectl, core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=POLECAT.format(task="t")))
    uid = custom.get_namespaced_custom_object(
        "gastown.gastown.io", "v1alpha1", namespace, "polecats", "furiosa"
    )["metadata"]["uid"]
    core.create_namespaced_event(
        namespace,
        {
            "metadata": {"generateName": "furiosa."},
            "involvedObject": {
                "kind": "Polecat",
                "name": "furiosa",
                "namespace": namespace,
                "uid": uid,
                "apiVersion": "gastown.gastown.io/v1alpha1",
            },
            "reason": "Dispatched",
            "message": "workflow started",
            "type": "Normal",
        },
    )
    out = ok(kubectl("describe", "polecat", "furiosa", "-n", namespace))
    assert "Bead ID:" in out
    assert "dm-0001" in out
    assert "Dispatched" in out
    assert "workflow started" in out
    header, row = ok(kubectl("get", "events", "-n", namespace)).splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert row.split()[1:] == ["Normal", "Dispatched", "polecat/furiosa", "workflow", "started"]


def test_delete_waits_for_removal(
    kubectl: Kubectl, custom: client.CustomObjectsApi, namespace: str
) -> None:
    ok(kubectl("apply", "-n", namespace, "-f", "-", stdin=POLECAT.format(task="t")))
    out = ok(kubectl("delete", "polecat", "furiosa", "-n", namespace, "--timeout=20s"))
    assert 'polecat.gastown.gastown.io "furiosa" deleted' in out
    listing = custom.list_namespaced_custom_object(
        "gastown.gastown.io", "v1alpha1", namespace, "polecats"
    )
    assert listing["items"] == []


def test_logs_of_a_pod(kubectl: Kubectl, core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "hello"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "command": ["sh", "-c", "for i in 1 2 3; do echo line $i; done"],
                    }
                ],
            },
        },
    )
    wait_until(
        lambda: core.read_namespaced_pod("hello", namespace).status.phase == "Succeeded",
        what="pod succeeded",
    )
    assert ok(kubectl("logs", "hello", "-n", namespace)) == "line 1\nline 2\nline 3\n"
    assert ok(kubectl("logs", "hello", "-n", namespace, "--tail=1")) == "line 3\n"
    pods = ok(kubectl("get", "pods", "-n", namespace)).splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1].split()[:4] == ["hello", "0/1", "Completed", "0"]


def test_explain_polecat_spec(kubectl: Kubectl) -> None:
    out = ok(kubectl("explain", "polecat.spec"))
    assert "KIND:       Polecat" in out
    assert "beadID" in out
    assert "desiredState" in out
    out = ok(kubectl("explain", "polecat.spec.kubernetes"))
    assert "Where and how the pod runs" in out


def test_api_resources_lists_our_kinds(kubectl: Kubectl) -> None:
    out = ok(kubectl("api-resources", "--api-group=gastown.gastown.io"))
    kinds = {line.split()[-1] for line in out.splitlines()[1:]}
    assert kinds == {"Convoy", "Polecat", "Rig"}


def test_kubectl_create_typed_objects_over_protobuf(
    kubectl: Kubectl, core: client.CoreV1Api, namespace: str
) -> None:
    """kubectl's typed clients post protobuf; the sandbox decodes those kinds."""
    ok(
        kubectl(
            "create",
            "secret",
            "generic",
            "git-creds",
            "-n",
            namespace,
            "--from-literal=token=abc",
            "--from-literal=user=me",
        )
    )
    secret = core.read_namespaced_secret("git-creds", namespace)
    assert secret.data == {"token": "YWJj", "user": "bWU="}
    assert secret.type == "Opaque"
    assert secret.metadata.generate_name is None
    ok(kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=a=1"))
    assert core.read_namespaced_config_map("cfg", namespace).data == {"a": "1"}
    ok(kubectl("create", "serviceaccount", "runner", "-n", namespace))
    assert core.read_namespaced_service_account("runner", namespace).metadata.name == "runner"
    name = f"{namespace}-extra"
    ok(kubectl("create", "namespace", name))
    try:
        assert core.read_namespace(name).status.phase == "Active"
    finally:
        ok(kubectl("delete", "namespace", name, "--wait=false"))
    denied = kubectl("delete", "namespace", "default")
    assert denied.returncode != 0
    assert "may not be deleted" in denied.stderr


def test_auth_can_i_and_cluster_info(kubectl: Kubectl, namespace: str) -> None:
    assert ok(kubectl("auth", "can-i", "create", "polecats", "-n", namespace)) == "yes\n"
    assert "is running at https://" in ok(kubectl("cluster-info"))
    ok(kubectl("create", "secret", "generic", "x", "-n", namespace))
    assert ok(kubectl("get", "all", "-n", namespace)) == ""
