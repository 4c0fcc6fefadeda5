"""Every pod template the chart renders passes the restricted Pod Security profile, checked by
the same module the sandbox's admission uses (a port of pod-security-admission)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gastown.sandbox.admission.podsecurity import violations
from tests.charts.rendering import CLUSTER_WIDE, VALUE_SETS, pod_templates, render


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_template_passes_restricted(name: str) -> None:
    pods = pod_templates(render(VALUE_SETS[name]))
    assert pods, "no pod template rendered"
    assert {pod_name: violations(pod, "restricted") for pod_name, pod in pods} == {
        pod_name: [] for pod_name, _ in pods
    }


def test_the_check_is_not_vacuous() -> None:
    """A template stripped of its security context fails, so the test above can fail."""
    (_, pod), *_ = pod_templates(render(CLUSTER_WIDE))
    bare: dict[str, Any] = copy.deepcopy(pod)
    del bare["spec"]["securityContext"]
    for container in bare["spec"]["containers"]:
        del container["securityContext"]
    assert len(violations(bare, "restricted")) >= 3
