"""More apiserver behaviour: CRDs installed at runtime, strict field validation, dry-run,
server-side apply, deletecollection, terminating namespaces, pod field selectors."""

from __future__ import annotations

import json
import secrets
import subprocess
import textwrap
from collections.abc import Callable

import pytest
from kubernetes import client

from tests.sandbox.waits import wait_until

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def test_crd_applied_with_kubectl_is_served(
    kubectl: Kubectl, custom: client.CustomObjectsApi, namespace: str
) -> None:
    group = f"g{secrets.token_hex(3)}.example.io"
    crd = textwrap.dedent(f"""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: things.{group}
        spec:
          group: {group}
          scope: Namespaced
          names: {{plural: things, singular: thing, kind: Thing}}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec:
                      type: object
                      properties:
                        count: {{type: integer, maximum: 5}}
        """)
    result = kubectl("apply", "-f", "-", stdin=crd)
    assert result.returncode == 0, result.stderr
    result = kubectl("wait", "--for=condition=Established", f"crd/things.{group}", "--timeout=20s")
    assert result.returncode == 0, result.stderr
    thing = {
        "apiVersion": f"{group}/v1",
        "kind": "Thing",
        "metadata": {"name": "t"},
        "spec": {"count": 3},
    }
    custom.create_namespaced_custom_object(group, "v1", namespace, "things", thing)
    with pytest.raises(client.ApiException) as info:
        custom.create_namespaced_custom_object(
            group,
            "v1",
            namespace,
            "things",
            {**thing, "metadata": {"name": "u"}, "spec": {"count": 9}},
        )
    assert info.value.status == 422
    assert kubectl("delete", "crd", f"things.{group}").returncode == 0
    with pytest.raises(client.ApiException) as info:
        custom.list_namespaced_custom_object(group, "v1", namespace, "things")
    assert info.value.status == 404


def test_strict_field_validation_rejects_unknown_fields(kubectl: Kubectl, namespace: str) -> None:
    widget = textwrap.dedent("""\
        apiVersion: test.gastown.io/v1alpha1
        kind: Widget
        metadata: {name: strict}
        spec: {color: red, flavour: lemon}
        """)
    result = kubectl("apply", "-n", namespace, "-f", "-", stdin=widget)
    assert result.returncode != 0
    assert 'unknown field "spec.flavour"' in result.stderr
    lenient = kubectl("apply", "-n", namespace, "--validate=false", "-f", "-", stdin=widget)
    assert lenient.returncode == 0, lenient.stderr


def test_dry_run_persists_nothing(core: client.CoreV1Api, namespace: str) -> None:
    made = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dry"}}, dry_run="All"
    )
    assert made.metadata.name == "dry"
    with pytest.raises(client.ApiException) as info:
        core.read_namespaced_config_map("dry", namespace)
    assert info.value.status == 404


def test_server_side_apply(kubectl: Kubectl, core: client.CoreV1Api, namespace: str) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n"
    for value in ("'1'", "'2'"):
        result = kubectl(
            "apply", "--server-side", "-n", namespace, "-f", "-", stdin=cm.replace("'1'", value)
        )
        assert result.returncode == 0, result.stderr
    assert core.read_namespaced_config_map("ssa", namespace).data == {"a": "2"}


def test_delete_collection_by_label(core: client.CoreV1Api, namespace: str) -> None:
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": {"team": team}}}
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="team=x")
    left = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert left == ["c"]


def test_terminating_namespace_refuses_new_objects(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    name = f"t-term-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name}})
    held = {
        "apiVersion": "test.gastown.io/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": "held", "finalizers": ["test.gastown.io/hold"]},
        "spec": {"color": "red"},
    }
    custom.create_namespaced_custom_object("test.gastown.io", "v1alpha1", name, "widgets", held)
    core.delete_namespace(name)
    assert core.read_namespace(name).status.phase == "Terminating"
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_config_map(name, {"metadata": {"name": "late"}})
    assert info.value.status == 403
    custom.patch_namespaced_custom_object(
        "test.gastown.io", "v1alpha1", name, "widgets", "held", {"metadata": {"finalizers": None}}
    )

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, what="namespace finalized once its last object went")


def test_pod_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    for name, node in (("bound", "elsewhere"), ("other", "elsewhere")):
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": name},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
            },
        )
    pending = core.list_namespaced_pod(namespace, field_selector="status.phase=Pending")
    assert sorted(p.metadata.name for p in pending.items) == ["bound", "other"]
    assert core.list_namespaced_pod(namespace, field_selector="status.phase=Running").items == []
    on_node = core.list_namespaced_pod(
        namespace, field_selector="spec.nodeName=elsewhere,metadata.name=bound"
    )
    assert [p.metadata.name for p in on_node.items] == ["bound"]


def test_pod_spec_is_immutable(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "imm"},
            "spec": {"nodeName": "elsewhere", "containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    with pytest.raises(client.ApiException) as info:
        core.patch_namespaced_pod("imm", namespace, {"spec": {"restartPolicy": "Never"}})
    assert info.value.status == 422
    assert json.loads(info.value.body)["details"]["causes"][0]["field"] == "spec"


@pytest.mark.usefixtures("sandbox")  # the container runs this interpreter on the host
def test_kubectl_logs_follow(kubectl: Kubectl, core: client.CoreV1Api, namespace: str) -> None:
    code = "import time\nfor i in range(3):\n print('tick', i, flush=True)\n time.sleep(0.2)"
    import sys

    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "ticker"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "c", "image": "python", "command": [sys.executable, "-c", code]}
                ],
            },
        },
    )
    wait_until(
        lambda: core.read_namespaced_pod("ticker", namespace).status.phase != "Pending",
        what="ticker started",
    )
    result = kubectl("logs", "-f", "ticker", "-n", namespace, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tick 0\ntick 1\ntick 2\n"
