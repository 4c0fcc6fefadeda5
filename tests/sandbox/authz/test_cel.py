"""CRD validation rules through the real kubectl: our CRDs' rules and the CEL features around."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gastown.sandbox import cel
from tests.conftest import Cluster

RULES_CRD = Path(__file__).with_name("rules-crd.yaml")


def invalid(result: Any) -> str:
    """kubectl's rendering of a 422: `The <Kind> "<name>" is invalid: <causes>`."""
    assert result.returncode != 0, result.stdout
    text = str(result.stderr)
    assert " is invalid: " in text, text
    return text[text.index("The ") :].strip()


def polecat(namespace: str, **spec: Any) -> str:
    body = {"rig": "demo-rig", "beadID": "dm-1", **spec}
    return json.dumps(
        {
            "apiVersion": "gastown.gastown.io/v1alpha1",
            "kind": "Polecat",
            "metadata": {"name": "furiosa", "namespace": namespace},
            "spec": body,
        }
    )


@pytest.fixture
def running(cluster: Cluster, namespace: str) -> str:
    """A polecat whose status says it is running (as the watcher would have written)."""
    made = cluster.kubectl("apply", "-f", "-", stdin=polecat(namespace))
    assert made.returncode == 0, made.stderr
    status = cluster.kubectl(
        "patch",
        "polecat",
        "furiosa",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Working"}}',
    )
    assert status.returncode == 0, status.stderr
    return namespace


def test_changing_a_running_polecats_rig_gets_the_rules_message(
    cluster: Cluster, running: str
) -> None:
    result = cluster.kubectl(
        "patch",
        "polecat",
        "furiosa",
        "-n",
        running,
        "--type=merge",
        "-p",
        '{"spec":{"rig":"other-rig"}}',
    )
    assert invalid(result) == (
        'The Polecat "furiosa" is invalid: spec: Invalid value: "object": spec.rig is immutable; '
        "create a new polecat for another rig"
    )


def test_changing_a_running_polecats_bead_by_apply_gets_the_rules_message(
    cluster: Cluster, running: str
) -> None:
    result = cluster.kubectl("apply", "-f", "-", stdin=polecat(running, beadID="dm-2"))
    assert invalid(result) == (
        'The Polecat "furiosa" is invalid: spec: Invalid value: "object": spec.beadID cannot '
        "change once set; create a new polecat"
    )
    removed = cluster.kubectl(
        "patch",
        "polecat",
        "furiosa",
        "-n",
        running,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/beadID"}]',
    )
    assert "spec.beadID cannot change once set" in invalid(removed)
    # Nothing changed, and a change the rules allow goes through.
    got = cluster.kubectl("get", "polecat", "furiosa", "-n", running, "-o", "json")
    assert json.loads(got.stdout)["spec"]["beadID"] == "dm-1"
    ok = cluster.kubectl(
        "patch",
        "polecat",
        "furiosa",
        "-n",
        running,
        "--type=merge",
        "-p",
        '{"spec":{"desiredState":"Idle"}}',
    )
    assert ok.returncode == 0, ok.stderr


def test_a_branch_ending_in_lock_is_refused_on_create(cluster: Cluster, namespace: str) -> None:
    body = polecat(namespace, kubernetes={"workBranch": "feature/x.lock"})
    result = cluster.kubectl("apply", "-f", "-", stdin=body)
    assert invalid(result) == (
        'The Polecat "furiosa" is invalid: spec.kubernetes.workBranch: Invalid value: "string": '
        "a branch name component must not end in .lock"
    )


@pytest.fixture(scope="module")
def gadgets(cluster: Cluster) -> Iterator[None]:
    applied = cluster.kubectl("apply", "-f", str(RULES_CRD))
    assert applied.returncode == 0, applied.stderr
    ready = cluster.kubectl("wait", "--for=condition=Established", "crd/gadgets.rules.gastown.io")
    assert ready.returncode == 0, ready.stderr
    yield
    cluster.kubectl("delete", "-f", str(RULES_CRD))


def gadget(namespace: str, **spec: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "rules.gastown.io/v1",
            "kind": "Gadget",
            "metadata": {"name": "g", "namespace": namespace},
            "spec": spec,
        }
    )


@pytest.mark.usefixtures("gadgets")
def test_message_expression_reason_and_field_path(cluster: Cluster, namespace: str) -> None:
    result = cluster.kubectl("apply", "-f", "-", stdin=gadget(namespace, min=5, max=1, tags=["A"]))
    assert invalid(result) == (
        'The Gadget "g" is invalid: \n'
        '* spec.min: Invalid value: "object": min 5 exceeds max 1\n'
        "* spec.owner: Required value: an owner is required\n"
        '* spec.tags: Invalid value: "array": tags are lower case'
    )


@pytest.mark.usefixtures("gadgets")
def test_transition_rules_run_only_on_update_and_follow_list_map_keys(
    cluster: Cluster, namespace: str
) -> None:
    ports = [{"name": "http", "number": 80}]
    made = cluster.kubectl(
        "apply", "-f", "-", stdin=gadget(namespace, min=1, max=2, owner="me", ports=ports)
    )
    assert made.returncode == 0, made.stderr
    moved = [{"name": "admin", "number": 9000}, {"name": "http", "number": 8080}]
    result = cluster.kubectl(
        "apply", "-f", "-", stdin=gadget(namespace, min=1, max=2, owner="you", ports=moved)
    )
    assert invalid(result) == (
        'The Gadget "g" is invalid: \n'
        "* spec: Forbidden: the owner is fixed\n"
        '* spec.ports[1]: Invalid value: "object": a port keeps its number'
    )
    added = [{"name": "admin", "number": 9000}, {"name": "http", "number": 80}]
    ok = cluster.kubectl(
        "apply", "-f", "-", stdin=gadget(namespace, min=1, max=2, owner="me", ports=added)
    )
    assert ok.returncode == 0, ok.stderr


def test_runtime_errors_are_reported_as_upstream_does() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.missing == 1"}],
            }
        },
    }
    causes = cel.validate(schema, {"spec": {}})
    assert len(causes) == 1
    field, reason, message = causes[0]
    assert (field, reason) == ("spec", "FieldValueInvalid")
    assert message.startswith('Invalid value: "object": ')
    assert message.endswith(" evaluating rule: self.missing == 1")
    failed = cel.validate(
        {"type": "object", "x-kubernetes-validations": [{"rule": "false"}]}, {"a": 1}
    )
    assert failed == [("", "FieldValueInvalid", 'Invalid value: "object": failed rule: false')]
