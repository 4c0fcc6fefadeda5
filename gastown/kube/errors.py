"""One error hierarchy for every answer the API server gives, translated in one place.

Callers act on the kind of answer (gone, taken, refused, overloaded), never on a status code,
and every error carries the API server's own message (a Status object's `message`), which is
what a user needs to read. Nothing here ever holds a request or response body beyond that
message, so a Secret's data cannot leak into an error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any


class KubeError(Exception):
    """Any refusal or failure of an API call; `status` is the HTTP code (None: no answer)."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class BadRequest(KubeError):
    """400: the request itself is malformed (a bug on our side, not a state of the cluster)."""


class Unauthorized(KubeError):
    """401: the credentials were refused (expired token, wrong kubeconfig)."""


class Forbidden(KubeError):
    """403: RBAC (or an admission webhook) said no to this user."""


class NotFound(KubeError):
    """404: no such object (or no such kind: the CRDs are not installed)."""


class Conflict(KubeError):
    """409: AlreadyExists on create, or a stale resourceVersion on update."""


class Gone(KubeError):
    """410: a watch asked for history the server no longer keeps; re-list and go on."""


class Invalid(KubeError):
    """422: the schema, a CEL rule or a JSON patch `test` refused the change."""


class Unavailable(KubeError):
    """429, 5xx, or no answer at all: worth trying again later (`retry_after` if it said)."""


_BY_STATUS: dict[int, type[KubeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: Unavailable,
}


def status_message(body: bytes | str | None, reason: str | None) -> str:
    """The Status object's message, else the HTTP reason phrase."""
    try:
        doc = json.loads(body or "{}")
    except (ValueError, UnicodeDecodeError):
        return str(reason or "")
    message = doc.get("message") if isinstance(doc, dict) else None
    return str(message or reason or "")


def retry_after(headers: Mapping[str, Any] | None, body: bytes | str | None) -> float | None:
    """Seconds from a Retry-After header, or the Status body's `details.retryAfterSeconds`."""
    raw = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    try:
        details = json.loads(body or "{}").get("details") or {}
        seconds = details.get("retryAfterSeconds")
        return float(seconds) if seconds is not None else None
    except (ValueError, AttributeError, TypeError):
        return None


def from_status(
    status: int,
    reason: str | None,
    body: bytes | str | None,
    headers: Mapping[str, Any] | None = None,
) -> KubeError:
    """The error for one non-2xx answer."""
    message = status_message(body, reason)
    after = retry_after(headers, body) if status == 429 else None
    kind = _BY_STATUS.get(status, Unavailable if status >= 500 else KubeError)
    return kind(message or f"HTTP {status}", status, after)


def translate(exc: BaseException, *, transport: bool = True) -> KubeError | None:
    """A KubeError for anything the official client or urllib3 raised; None for the rest.
    `transport=False` leaves a plain OSError alone (outside a client call it is not the
    connection's).

    The one place that knows the client's exception types, so code above this package (and
    code not yet migrated to it, whose ApiExceptions reach the CLI) never imports them.
    """
    from urllib3.exceptions import HTTPError

    if isinstance(exc, KubeError):
        return exc
    # Only a process that loaded the official client can hold one of its exceptions; looked
    # up, not imported, so a process without it (the watcher) never loads it here.
    official = sys.modules.get("kubernetes.client.exceptions")
    if official is not None and isinstance(exc, official.ApiException):
        return from_status(exc.status or 0, exc.reason, exc.body, exc.headers)
    if isinstance(exc, HTTPError) or (transport and isinstance(exc, OSError)):
        return Unavailable(f"cannot reach the Kubernetes API: {exc}")
    return None
