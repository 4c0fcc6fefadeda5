"""Permanent failures as non-retryable ApplicationErrors, typed for the retry policies."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError


def permanent(kind: str, message: str) -> ApplicationError:
    """An error retrying cannot fix; `kind` is one of the types in workflows/contract.py."""
    return ApplicationError(message, type=kind, non_retryable=True)
