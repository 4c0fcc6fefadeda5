"""Who hears of a failed API call: the one hook in the one boundary (`Kube.send`).

The service registers the metrics counter (gastown_kube_api_errors_total, by verb and code)
at start; nothing is registered by default, so the CLI and tests pay nothing. Only failures
reach a hook: a successful call runs no code of this module, so there is no per-call
overhead to measure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from gastown.kube.calls import Request

ErrorHook = Callable[[str, str], None]  # (verb, code)

_hooks: list[ErrorHook] = []

VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def verb(request: Request) -> str:
    """Kubernetes' verb as far as the call shows it: a GET is `watch` with watch=true, else
    `get` (a list is a GET of a collection: counted as get)."""
    if request.method == "GET":
        return "watch" if ("watch", "true") in request.query or "/watch/" in request.path else "get"
    return VERBS.get(request.method, request.method.lower())


def code(status: int | None) -> str:
    """The HTTP status, or `none` when no answer came (connection refused, timeout)."""
    return str(status) if status else "none"


def on_api_error(hook: ErrorHook) -> Callable[[], None]:
    """Register `hook`; returns the function that removes it again."""
    _hooks.append(hook)
    return lambda: _hooks.remove(hook) if hook in _hooks else None


def api_error(request: Request, status: int | None) -> None:
    for hook in list(_hooks):
        # A metric must never turn into the call's failure.
        with contextlib.suppress(Exception):
            hook(verb(request), code(status))
