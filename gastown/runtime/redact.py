"""Scrub secret values from anything we print or report.

Every secret the runtime reads (git token/password, API key, OAuth tokens, forge token) is
registered here the moment it is read; every message that leaves the process (log lines, the
agent's own output on its way to the pod log, git stderr quoted in a result, HTTP error
bodies, the PR body, the termination message) goes through `redact` first. Known token shapes
(Anthropic, GitHub, GitLab keys, `Bearer …`) are scrubbed even when the runtime never read them:
an agent may print a key it found anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

_secrets: set[str] = set()
_secrets_bytes: list[bytes] = []
# Bounded repetitions: the agent's lines can be megabytes, and an unbounded scheme would
# backtrack quadratically over a long run of letters.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/@\s]{1,512}@")
_TOKEN_SHAPES = (
    r"sk-ant-[A-Za-z0-9_\-]{8,}",
    r"gh[pousr]_[A-Za-z0-9]{16,}",
    r"github_pat_[A-Za-z0-9_]{16,}",
    r"glpat-[A-Za-z0-9_\-]{16,}",
)
_SHAPES = re.compile("|".join(_TOKEN_SHAPES))
_SHAPES_BYTES = re.compile("|".join(_TOKEN_SHAPES).encode())
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")
_BEARER_BYTES = re.compile(rb"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")
_URL_USERINFO_BYTES = re.compile(rb"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/@\s]{1,512}@")

#: Env vars whose values are secrets wherever they come from.
SECRET_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")


def register(value: str | None) -> None:
    """Remember a secret value (ignoring trivially short ones that would mangle text)."""
    if value and len(value.strip()) >= 6:
        stripped = value.strip()
        if stripped not in _secrets:
            _secrets.add(stripped)
            _secrets_bytes[:] = sorted((s.encode() for s in _secrets), key=len, reverse=True)


#: Keys of mounted Secrets that are not secret (a username would scrub every mention of it).
_NOT_SECRET = frozenset({"username", "known_hosts"})


def register_files(paths: Iterable[Path | None]) -> None:
    """Register the content of mounted secret files, and of every file in mounted directories
    (each line too, for multi-value files such as a key), whether or not this phase uses it:
    the agent may print one it found."""
    for path in paths:
        if path is None:
            continue
        try:
            files = sorted(path.iterdir()) if path.is_dir() else [path]
        except OSError:
            continue
        for file in files:
            if file.name.startswith("..") or file.name in _NOT_SECRET or not file.is_file():
                continue  # ..data and friends: the kubelet's projection links
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            register(text)
            for line in text.splitlines():
                register(line)
            _register_json_tokens(text)


def _register_json_tokens(text: str) -> None:
    """The tokens inside a Claude credentials document (accessToken, refreshToken)."""
    for match in re.finditer(r'"(?:accessToken|refreshToken)"\s*:\s*"([^"]+)"', text):
        register(match.group(1))


def register_env(env: Mapping[str, str]) -> None:
    for name in SECRET_ENV:
        register(env.get(name))


def redact(text: str) -> str:
    """Replace registered secrets, known token shapes and URL credentials with ***."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _SHAPES.sub("***", text)
    text = _BEARER.sub(r"\g<1>***", text)
    if "://" not in text:  # the common case, and a fast one on megabyte lines
        return text
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)


def redact_bytes(data: bytes) -> bytes:
    """`redact` for raw output (the agent's lines, which need not be UTF-8)."""
    for secret in _secrets_bytes:
        data = data.replace(secret, b"***")
    data = _SHAPES_BYTES.sub(b"***", data)
    data = _BEARER_BYTES.sub(rb"\g<1>***", data)
    if b"://" not in data:
        return data
    return _URL_USERINFO_BYTES.sub(rb"\g<scheme>***@", data)
