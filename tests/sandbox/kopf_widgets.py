"""A tiny kopf operator over the test Widget CRD, run by test_kopf.py against the cluster."""

from __future__ import annotations

from typing import Any

import kopf

GROUP, VERSION, PLURAL = "test.gastown.io", "v1alpha1", "widgets"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = 0
    settings.watching.server_timeout = 10
    settings.persistence.finalizer = "test.gastown.io/kopf"


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's own kubeconfig reader: it reads $KUBECONFIG now, not at import time."""
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.create(GROUP, VERSION, PLURAL)
def created(spec: dict[str, Any], patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = f"Created-{spec['color']}"


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.size")
def resized(new: Any, patch: kopf.Patch, **_: Any) -> None:
    patch.status["message"] = f"size={new}"


@kopf.on.delete(GROUP, VERSION, PLURAL)
def deleted(name: str, namespace: str, **_: Any) -> None:
    kopf.info({"metadata": {"name": name, "namespace": namespace}}, reason="Gone", message=name)
