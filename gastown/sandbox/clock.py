"""Timestamps in the formats Kubernetes objects carry."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(when: datetime | None = None) -> str:
    """Second precision, `Z` suffix: metav1.Time's wire format."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(when: datetime | None = None) -> str:
    """metav1.MicroTime (leases, events.k8s.io)."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
