"""Permanent failures as non-retryable ApplicationErrors, typed for the retry policies."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from gastown.workflows import contract as c


def permanent(kind: str, message: str) -> ApplicationError:
    """An error retrying cannot fix; `kind` is one of the types in workflows/contract.py."""
    return ApplicationError(message, type=kind, non_retryable=True)


def require_served(namespaces: tuple[str, ...], namespace: str, kind: str) -> None:
    """Refuse, for good, an object in a namespace this worker does not serve
    (`--serve-namespace`): its workflow must not act there."""
    if namespaces and namespace not in namespaces:
        raise permanent(
            c.NAMESPACE_NOT_SERVED,
            f"this worker serves namespace(s) {', '.join(namespaces)}, not {namespace!r}: "
            f"create the {kind} in one of them, or run a worker for this namespace",
        )
