"""kopf (real operator framework) against the cluster: watch, patch status, finalizers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner
from kubernetes import client

from tests.conftest import Cluster
from tests.sandbox.waits import wait_until

G, V, P = "test.gastown.io", "v1alpha1", "widgets"
HANDLERS = str(Path(__file__).with_name("kopf_widgets.py"))


def test_kopf_operator_handles_lifecycle(
    cluster: Cluster,
    custom: client.CustomObjectsApi,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    args = ["run", "--standalone", "--namespace", namespace, HANDLERS]
    with KopfRunner(args, timeout=30) as runner:
        custom.create_namespaced_custom_object(
            G,
            V,
            namespace,
            P,
            {
                "apiVersion": f"{G}/{V}",
                "kind": "Widget",
                "metadata": {"name": "k"},
                "spec": {"color": "green"},
            },
        )

        def status() -> Any:
            obj = custom.get_namespaced_custom_object(G, V, namespace, P, "k")
            return obj.get("status") or {}

        wait_until(lambda: status().get("phase") == "Created-green", 20, "kopf create handler")
        obj = custom.get_namespaced_custom_object(G, V, namespace, P, "k")
        assert "test.gastown.io/kopf" in obj["metadata"]["finalizers"]
        custom.patch_namespaced_custom_object(G, V, namespace, P, "k", {"spec": {"size": 9}})
        wait_until(lambda: status().get("message") == "size=9", 20, "kopf update handler")
        custom.delete_namespaced_custom_object(G, V, namespace, P, "k")

        def removed() -> bool:
            try:
                custom.get_namespaced_custom_object(G, V, namespace, P, "k")
            except client.ApiException as exc:
                return exc.status == 404
            return False

        wait_until(removed, 20, "kopf removed its finalizer")
    assert runner.exception is None
    assert "Handler 'created' succeeded" in runner.output
    assert "Handler 'deleted' succeeded" in runner.output
