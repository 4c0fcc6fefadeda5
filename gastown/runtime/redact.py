"""Scrub secret values from anything we print or report.

Every secret the runtime reads (git token/password, API key, OAuth tokens, forge token) is
registered here the moment it is read; every message that leaves the process (log lines, git
stderr quoted in a result, HTTP error bodies) goes through `redact` first.
"""

from __future__ import annotations

import re

_secrets: set[str] = set()
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def register(value: str | None) -> None:
    """Remember a secret value (ignoring trivially short ones that would mangle text)."""
    if value and len(value.strip()) >= 6:
        _secrets.add(value.strip())


def redact(text: str) -> str:
    """Replace registered secrets and URL credentials with ***."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)
