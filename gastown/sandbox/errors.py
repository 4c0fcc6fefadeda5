"""Kubernetes API errors rendered as `Status` objects, as the real apiserver returns them.

Clients branch on `code` and `reason` (kopf on 409/410, the official client on status), so the
shapes here follow apimachinery's `errors` package closely.
"""

from __future__ import annotations

from typing import Any

from gastown.sandbox.resources import ResourceType

JSON = dict[str, Any]


class ApiError(Exception):
    """An error response: HTTP code, Status reason, message and optional details."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: JSON | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> JSON:
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(rt: ResourceType, name: str) -> JSON:
    details: JSON = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name)
    )


def conflict(rt: ResourceType, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version"
    why += " and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
        _details(rt, name),
    )


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; causes are (field path, cause reason, message) like field.ErrorList."""
    group_kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    text = ", ".join(f"{field}: {msg}" if field else msg for field, _, msg in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    details: JSON = {"name": name, "kind": rt.kind}
    if rt.group:
        details["group"] = rt.group
    details["causes"] = [
        {"reason": reason, "message": msg, "field": field} for field, reason, msg in causes
    ]
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown "
        f"format - accepted media types include: application/json-patch+json, "
        f"application/merge-patch+json, application/apply-patch+yaml "
        f"(got {content_type})",
    )


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def page_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")
