"""API server semantics through the official `kubernetes` client."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from tests.sandbox.waits import wait_until

G, V = "test.gastown.io", "v1alpha1"


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"color": "red", **spec},
    }


def body(exc: client.ApiException) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(exc.body)
    return data


def test_create_assigns_identity_and_versions(core: client.CoreV1Api, namespace: str) -> None:
    a = core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    b = core.create_namespaced_config_map(
        namespace, {"metadata": {"generateName": "gen-"}, "data": {"k": "v"}}
    )
    uuid.UUID(a.metadata.uid)
    assert a.metadata.uid != b.metadata.uid
    assert b.metadata.name.startswith("gen-")
    assert len(b.metadata.name) == len("gen-") + 5
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    assert abs(a.metadata.creation_timestamp - datetime.now(UTC)) < timedelta(seconds=5)
    listed = core.list_namespaced_config_map(namespace)
    assert int(listed.metadata.resource_version) >= int(b.metadata.resource_version)
    assert {c.metadata.name for c in listed.items} >= {"a", b.metadata.name}


def test_generation_bumps_on_spec_changes_only(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    w = custom.create_namespaced_custom_object(G, V, namespace, "widgets", widget("w"))
    assert w["metadata"]["generation"] == 1
    w = custom.patch_namespaced_custom_object(
        G, V, namespace, "widgets", "w", {"metadata": {"labels": {"x": "y"}}}
    )
    assert w["metadata"]["generation"] == 1
    w = custom.patch_namespaced_custom_object_status(
        G, V, namespace, "widgets", "w", {"status": {"phase": "Ready"}}
    )
    assert w["metadata"]["generation"] == 1
    rv = int(w["metadata"]["resourceVersion"])
    w = custom.patch_namespaced_custom_object(
        G, V, namespace, "widgets", "w", {"spec": {"size": 7}}
    )
    assert w["metadata"]["generation"] == 2
    assert int(w["metadata"]["resourceVersion"]) > rv


def test_crd_defaults_and_schema_validation(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    w = custom.create_namespaced_custom_object(
        G, V, namespace, "widgets", widget("d", unknown="dropped")
    )
    assert w["spec"]["size"] == 3  # default
    assert "unknown" not in w["spec"]  # pruned, as a structural schema does
    with pytest.raises(client.ApiException) as info:
        custom.create_namespaced_custom_object(
            G, V, namespace, "widgets", widget("bad", color="pink", size=0, code="nope")
        )
    assert info.value.status == 422
    status = body(info.value)
    assert status["kind"] == "Status"
    assert status["reason"] == "Invalid"
    fields = {c["field"]: c["reason"] for c in status["details"]["causes"]}
    assert fields == {
        "spec.color": "FieldValueNotSupported",
        "spec.size": "FieldValueInvalid",
        "spec.code": "FieldValueInvalid",
    }
    missing = widget("m")
    del missing["spec"]["color"]
    with pytest.raises(client.ApiException) as info:
        custom.create_namespaced_custom_object(G, V, namespace, "widgets", missing)
    assert body(info.value)["details"]["causes"][0]["field"] == "spec.color"


def test_trailing_newline_is_refused_as_go_refuses_it(
    custom: client.CustomObjectsApi, core: client.CoreV1Api, namespace: str
) -> None:
    # Python's `$` matches before a final newline; the API server's Go regexp does not.
    polecat = {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": "furiosa"},
        "spec": {"rig": "demo-rig", "beadID": "dm-0001\n"},
    }
    with pytest.raises(client.ApiException) as info:
        custom.create_namespaced_custom_object(
            "gastown.gastown.io", "v1alpha1", namespace, "polecats", polecat
        )
    assert info.value.status == 422
    assert [c["field"] for c in body(info.value)["details"]["causes"]] == ["spec.beadID"]
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm\n"}})
    assert info.value.status == 422
    names = [cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items]
    assert not [name for name in names if name.startswith("cm")]


def test_real_crds_are_served(custom: client.CustomObjectsApi, core: client.CoreV1Api) -> None:
    resources = client.ApiextensionsV1Api(core.api_client).list_custom_resource_definition()
    names = {c.metadata.name for c in resources.items}
    assert {
        "polecats.gastown.gastown.io",
        "rigs.gastown.gastown.io",
        "convoys.gastown.gastown.io",
    } <= names
    for crd in resources.items:
        established = [c for c in crd.status.conditions if c.type == "Established"]
        assert established[0].status == "True"
    listing = custom.list_cluster_custom_object("gastown.gastown.io", "v1alpha1", "rigs")
    assert listing["kind"] == "RigList"


def test_errors_are_status_objects(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(client.ApiException) as info:
        core.read_namespaced_secret("absent", namespace)
    assert info.value.status == 404
    assert body(info.value)["reason"] == "NotFound"
    assert body(info.value)["details"] == {"name": "absent", "kind": "secrets"}
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}})
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}})
    assert info.value.status == 409
    assert body(info.value)["reason"] == "AlreadyExists"
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_secret("no-such-ns", {"metadata": {"name": "s"}})
    assert info.value.status == 404


def test_stale_resource_version_conflicts(core: client.CoreV1Api, namespace: str) -> None:
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    stale = cm.metadata.resource_version
    cm.data = {"a": "1"}
    core.replace_namespaced_config_map("c", namespace, cm)
    cm.data = {"a": "2"}
    cm.metadata.resource_version = stale
    with pytest.raises(client.ApiException) as info:
        core.replace_namespaced_config_map("c", namespace, cm)
    assert info.value.status == 409
    assert body(info.value)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("c", namespace).data == {"a": "1"}


def test_update_without_resource_version_is_rejected_for_custom_resources(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    custom.create_namespaced_custom_object(G, V, namespace, "widgets", widget("u"))
    with pytest.raises(client.ApiException) as info:
        custom.replace_namespaced_custom_object(G, V, namespace, "widgets", "u", widget("u"))
    assert info.value.status == 422


def test_status_subresource_semantics(custom: client.CustomObjectsApi, namespace: str) -> None:
    created = custom.create_namespaced_custom_object(
        G, V, namespace, "widgets", {**widget("s"), "status": {"phase": "Ignored"}}
    )
    assert "status" not in created
    obj = custom.get_namespaced_custom_object(G, V, namespace, "widgets", "s")
    obj["status"] = {"phase": "Set"}
    obj["spec"]["color"] = "blue"
    obj = custom.replace_namespaced_custom_object_status(G, V, namespace, "widgets", "s", obj)
    assert obj["status"] == {"phase": "Set"}
    assert obj["spec"]["color"] == "red"  # /status ignores everything else
    obj["status"] = {"phase": "Overwritten"}
    obj["spec"]["color"] = "green"
    obj = custom.replace_namespaced_custom_object(G, V, namespace, "widgets", "s", obj)
    assert obj["spec"]["color"] == "green"
    assert obj["status"] == {"phase": "Set"}  # the main resource ignores .status


def test_cluster_scoped_and_namespaced(custom: client.CustomObjectsApi, namespace: str) -> None:
    name = f"g-{namespace}"
    gadget = {"apiVersion": f"{G}/{V}", "kind": "Gadget", "metadata": {"name": name}}
    created = custom.create_cluster_custom_object(G, V, "gadgets", gadget)
    assert "namespace" not in created["metadata"]
    custom.delete_cluster_custom_object(G, V, "gadgets", name)
    custom.create_namespaced_custom_object(G, V, namespace, "widgets", widget("n"))
    everywhere = custom.list_cluster_custom_object(G, V, "widgets")
    assert any(i["metadata"]["namespace"] == namespace for i in everywhere["items"])


def test_label_and_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    for name, labels in {
        "a": {"tier": "web", "env": "prod"},
        "b": {"tier": "db", "env": "prod"},
        "c": {"tier": "web"},
        "d": {},
    }.items():
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})

    def names(**kw: str) -> list[str]:
        return [c.metadata.name for c in core.list_namespaced_config_map(namespace, **kw).items]

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier!=web") == ["b", "d"]
    assert names(label_selector="tier in (web,db),env") == ["a", "b"]
    assert names(label_selector="tier notin (web)") == ["b", "d"]
    assert names(label_selector="!env") == ["c", "d"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b,metadata.namespace=" + namespace) == [
        "a",
        "c",
        "d",
    ]


def test_list_pagination(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"p{i}"}})
    first = core.list_namespaced_config_map(namespace, limit=2)
    assert [c.metadata.name for c in first.items] == ["p0", "p1"]
    rest = core.list_namespaced_config_map(namespace, limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["p2", "p3", "p4"]


def test_patch_formats(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    custom.create_namespaced_custom_object(G, V, namespace, "widgets", widget("p", tags=["a"]))
    merged = custom.patch_namespaced_custom_object(
        G, V, namespace, "widgets", "p", {"spec": {"tags": ["b"], "size": None}}
    )
    assert merged["spec"]["tags"] == ["b"]
    assert merged["spec"]["size"] == 3  # removed by the patch, then defaulted again
    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "widgets",
        "p",
        [{"op": "add", "path": "/spec/tags/-", "value": "c"}],
        _content_type="application/json-patch+json",
    )
    got = custom.get_namespaced_custom_object(G, V, namespace, "widgets", "p")
    assert got["spec"]["tags"] == ["b", "c"]
    with pytest.raises(client.ApiException) as info:
        custom.patch_namespaced_custom_object(
            G,
            V,
            namespace,
            "widgets",
            "p",
            {"spec": {"size": 4}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert info.value.status == 415  # as for any custom resource
    pod = {
        "metadata": {"name": "smp", "labels": {"a": "1"}},
        "spec": {
            "nodeName": "elsewhere",  # never runs: bound to a node that does not exist
            "containers": [{"name": "c", "image": "img:1", "env": [{"name": "A", "value": "1"}]}],
        },
    }
    core.create_namespaced_pod(namespace, pod)
    patched = core.patch_namespaced_pod(
        "smp",
        namespace,
        {
            "metadata": {"labels": {"b": "2"}},
            "spec": {"containers": [{"name": "c", "image": "img:2"}]},
        },
        _content_type="application/strategic-merge-patch+json",
    )
    assert patched.metadata.labels == {"a": "1", "b": "2"}
    assert patched.spec.containers[0].image == "img:2"
    assert patched.spec.containers[0].env[0].name == "A"  # merged by name, not replaced


def test_finalizers_and_deletion_timestamp(custom: client.CustomObjectsApi, namespace: str) -> None:
    w = widget("f")
    w["metadata"]["finalizers"] = ["test.gastown.io/hold"]
    custom.create_namespaced_custom_object(G, V, namespace, "widgets", w)
    custom.delete_namespaced_custom_object(G, V, namespace, "widgets", "f")
    held = custom.get_namespaced_custom_object(G, V, namespace, "widgets", "f")
    assert held["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(
        G, V, namespace, "widgets", "f", {"metadata": {"finalizers": None}}
    )
    with pytest.raises(client.ApiException) as info:
        custom.get_namespaced_custom_object(G, V, namespace, "widgets", "f")
    assert info.value.status == 404


def test_owner_references_cascade(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    owner = custom.create_namespaced_custom_object(G, V, namespace, "widgets", widget("own"))
    ref = {
        "apiVersion": f"{G}/{V}",
        "kind": "Widget",
        "name": "own",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "dep", "ownerReferences": [ref]}}
    )
    core.create_namespaced_secret(namespace, {"metadata": {"name": "free"}})
    custom.delete_namespaced_custom_object(G, V, namespace, "widgets", "own")

    def gone() -> bool:
        names = {s.metadata.name for s in core.list_namespaced_secret(namespace).items}
        return "dep" not in names

    wait_until(gone, what="dependent secret collected")
    assert core.read_namespaced_secret("free", namespace).metadata.name == "free"


def test_dependent_with_another_owner_survives(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    refs = []
    for name in ("one", "two"):
        owner = custom.create_namespaced_custom_object(G, V, namespace, "widgets", widget(name))
        refs.append(
            {
                "apiVersion": f"{G}/{V}",
                "kind": "Widget",
                "name": name,
                "uid": owner["metadata"]["uid"],
            }
        )
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "shared", "ownerReferences": refs}}
    )
    custom.delete_namespaced_custom_object(G, V, namespace, "widgets", "one")
    assert core.read_namespaced_config_map("shared", namespace).metadata.name == "shared"
    custom.delete_namespaced_custom_object(G, V, namespace, "widgets", "two")

    def gone() -> bool:
        return not core.list_namespaced_config_map(
            namespace, field_selector="metadata.name=shared"
        ).items

    wait_until(gone, what="shared dependent collected after its last owner")


def test_orphan_propagation_keeps_dependents(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    owner = custom.create_namespaced_custom_object(G, V, namespace, "widgets", widget("o"))
    ref = {"apiVersion": f"{G}/{V}", "kind": "Widget", "name": "o", "uid": owner["metadata"]["uid"]}
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "kept", "ownerReferences": [ref]}}
    )
    custom.delete_namespaced_custom_object(
        G, V, namespace, "widgets", "o", propagation_policy="Orphan"
    )
    kept = core.read_namespaced_secret("kept", namespace)
    assert not kept.metadata.owner_references


def test_secret_string_data_and_service_account(core: client.CoreV1Api, namespace: str) -> None:
    s = core.create_namespaced_secret(
        namespace, {"metadata": {"name": "s"}, "stringData": {"token": "abc"}}
    )
    assert s.data == {"token": "YWJj"}
    assert s.type == "Opaque"
    assert core.read_namespaced_service_account("default", namespace).metadata.name == "default"


def test_namespace_deletion_removes_contents(core: client.CoreV1Api) -> None:
    name = f"t-del-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "c"}})
    core.delete_namespace(name)

    def removed() -> bool:
        try:
            core.read_namespace(name)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(removed, what="namespace removed")
    with pytest.raises(client.ApiException) as info:
        core.read_namespaced_config_map("c", name)
    assert info.value.status == 404


def test_leases_and_events(
    api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    leases = client.CoordinationV1Api(api_client)
    lease = leases.create_namespaced_lease(
        namespace,
        {
            "metadata": {"name": "leader"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
        },
    )
    lease.spec.holder_identity = "b"
    leases.replace_namespaced_lease("leader", namespace, lease)
    lease.spec.holder_identity = "c"  # stale: b's write came first
    with pytest.raises(client.ApiException) as info:
        leases.replace_namespaced_lease("leader", namespace, lease)
    assert info.value.status == 409
    core.create_namespaced_event(
        namespace,
        {
            "metadata": {"generateName": "ev-"},
            "involvedObject": {"kind": "Widget", "name": "w", "namespace": namespace},
            "reason": "Tested",
            "message": "hello",
            "type": "Normal",
        },
    )
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=w")
    assert [e.reason for e in events.items] == ["Tested"]


def test_discovery(api_client: client.ApiClient) -> None:
    groups = client.ApisApi(api_client).get_api_versions()
    names = {g.name for g in groups.groups}
    assert {"gastown.gastown.io", "coordination.k8s.io", "apiextensions.k8s.io"} <= names
    resources = client.CustomObjectsApi(api_client).get_api_resources(
        "gastown.gastown.io", "v1alpha1"
    )
    by_name = {r.name: r for r in resources.resources}
    assert by_name["rigs"].namespaced is False
    assert by_name["polecats"].namespaced is True
    assert "polecats/status" in by_name


def test_events_k8s_io_is_a_view_of_core_events(
    api_client: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    events_v1 = client.EventsV1Api(api_client)
    made = events_v1.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "e1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Polecat", "name": "furiosa", "namespace": namespace},
            "note": "started",
            "reason": "Dispatched",
            "type": "Normal",
            "action": "Dispatch",
            "reportingController": "gastown.io/worker",
            "reportingInstance": "w-1",
        },
    )
    assert made.regarding.name == "furiosa"
    core_view = core.read_namespaced_event("e1", namespace)
    assert core_view.involved_object.name == "furiosa"
    assert core_view.message == "started"
    assert core_view.reporting_component == "gastown.io/worker"
    core.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "e2"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
            "message": "from core",
            "reason": "Seen",
            "type": "Normal",
        },
    )
    # Raw JSON: a core event has no eventTime, which the typed v1 model insists on.
    raw = events_v1.list_namespaced_event(
        namespace, field_selector="regarding.name=p", _preload_content=False
    )
    listed = json.loads(raw.data)["items"]
    assert [(e["metadata"]["name"], e["note"]) for e in listed] == [("e2", "from core")]
