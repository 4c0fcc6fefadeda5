"""`gastown-operator worker --pod-service-account`: polecat pods run as that ServiceAccount,
its token still not mounted; runs resolved before the option existed keep their pods as they
were (the value travels in `Resolved`, the resolve activity's recorded result)."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.activities.podspec import build_pod
from gastown.workflows.messages import LaunchRequest, Resolved
from gastown.workflows.resolve import OperatorDefaults, resolve
from tests.activities.test_podspec import request
from tests.workflows.test_resolve import CREDS, rig, spec


def test_the_workers_default_reaches_the_pod() -> None:
    defaults = OperatorDefaults(pod_service_account="gastown-polecat")
    resolved = resolve("ns", "furiosa", spec(), rig(**CREDS), defaults)
    assert resolved.service_account == "gastown-polecat"
    pod = build_pod(request(service_account=resolved.service_account))
    assert pod["spec"]["serviceAccountName"] == "gastown-polecat"
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_without_it_the_pod_names_none() -> None:
    resolved = resolve("ns", "furiosa", spec(), rig(**CREDS), OperatorDefaults())
    assert resolved.service_account is None
    pod = build_pod(request())
    assert "serviceAccountName" not in pod["spec"]
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_a_launch_recorded_before_the_option_loads_without_it() -> None:
    """A history written by an older worker holds a `Resolved` without the field: it loads,
    and its pod is built as before."""
    converter = pydantic_data_converter.payload_converter
    payload = converter.to_payloads([request()])[0]
    old = payload.data.replace(b',"service_account":null', b"")
    assert old != payload.data and b"service_account" not in old
    payload.data = old
    (loaded,) = converter.from_payloads([payload], [LaunchRequest])
    assert isinstance(loaded, LaunchRequest) and isinstance(loaded.resolved, Resolved)
    assert loaded.resolved.service_account is None
    assert "serviceAccountName" not in build_pod(loaded)["spec"]
