"""gastown.kube against the sandbox API server: real HTTP, real Status answers, real faults."""

from __future__ import annotations

import pytest

from gastown.kube import BACKOFF, FAIL_FAST, NO_RETRY, Kube, RetryPolicy, from_kubeconfig
from tests.conftest import Cluster

# Quick backoff for the tests: the policy's logic, not its pacing, is under test.
QUICK = RetryPolicy(attempts=BACKOFF.attempts, initial=0.01, cap=0.05)


@pytest.fixture(scope="session", params=["official", "direct"])
def kube(cluster: Cluster, request: pytest.FixtureRequest) -> Kube:
    """Every operation through both transports: the official client's and urllib3 directly
    (the watcher's, client.connect(lean=True))."""
    return from_kubeconfig(str(cluster.kubeconfig), NO_RETRY, lean=request.param == "direct")


@pytest.fixture(scope="session")
def fail_fast(cluster: Cluster) -> Kube:
    return from_kubeconfig(str(cluster.kubeconfig), FAIL_FAST)


@pytest.fixture
def backoff(kube: Kube) -> Kube:
    return kube.with_retry(QUICK)
