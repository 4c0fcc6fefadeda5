"""A git credential helper that answers from the mounted git Secret.

git runs it as `… credential-helper get` with the request on stdin; we answer with a
username and password read from files, so the token never appears in a URL, an argv, the
environment or .git/config. Secret layout (keys of the Kubernetes Secret):

- `token`: a personal access / app token; username defaults to `x-access-token` (GitHub;
  GitLab accepts any username with a token) unless a `username` key is present.
- `username` + `password`: basic credentials.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO


def https_credentials(secret_dir: Path | None) -> tuple[str, str] | None:
    """(username, password) from the Secret, or None when it holds no HTTPS credentials."""
    if secret_dir is None:
        return None

    def read(name: str) -> str | None:
        path = secret_dir / name
        return path.read_text().strip() if path.is_file() else None

    token, username, password = read("token"), read("username"), read("password")
    if token:
        return (username or "x-access-token", token)
    if username and password:
        return (username, password)
    return None


def helper_main(argv: list[str], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Entry point of `gt-polecat credential-helper <get|store|erase>`."""
    operation = argv[0] if argv else ""
    request = {}
    for line in stdin.read().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            request[key] = value
    if operation != "get":
        return 0  # we never store or erase: the Secret is the only source
    secret_dir = os.environ.get("GT_GIT_SECRET_DIR")
    creds = https_credentials(Path(secret_dir) if secret_dir else None)
    if creds is None or request.get("protocol") != "https":
        return 0
    username, password = creds
    stdout.write(f"username={username}\npassword={password}\n")
    return 0
