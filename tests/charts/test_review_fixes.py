"""Render checks for the chart review's findings: each fails on the chart before its fix."""

from __future__ import annotations

from tests.charts.rendering import find, render


def test_polecat_service_account_carries_the_polecat_pull_secrets() -> None:
    objects = render(
        {
            "watchNamespaces": ["team-a"],
            "polecat": {"imagePullSecrets": ["registry-creds"]},
        }
    )
    account = find(objects, "ServiceAccount", "gastown-polecat", "team-a")
    assert account["imagePullSecrets"] == [{"name": "registry-creds"}]
