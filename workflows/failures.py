"""What an activity's failure says, in the words a status or an Event shows."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError


def error_text(err: BaseException) -> tuple[str, str]:
    """(type, message) of the application error at the root of an activity failure. A local
    activity's permanent error arrives as the ApplicationError itself, a regular activity's
    wrapped in an ActivityError: both read the same here."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.type or "Error", cause.message
    return type(cause).__name__ if cause else "Error", str(cause or err)
