"""The one RFC 3339 helper: what the API server writes and kubectl reads ages from.

metav1.Time has second precision (conditions, Event timestamps, status times); MicroTime
(Lease renewals, our mirror's observedAt) has microseconds. Both in UTC with a `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gastown.api.types import format_time


def now() -> str:
    """metav1.Time for now."""
    return format_time(datetime.now(UTC))


def now_micro(when: datetime | None = None) -> str:
    """metav1.MicroTime for `when` (default now)."""
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    """An API timestamp (Time or MicroTime) as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
