"""A git credential helper that answers from the mounted git Secret, for the rig's repository only.

git runs it as `… credential-helper get` with the request on stdin; we answer with a
username and password read from files, so the token never appears in a URL, an argv, the
environment or .git/config. Secret layout (keys of the Kubernetes Secret):

- `token`: a personal access / app token; username defaults to `x-access-token` (GitHub;
  GitLab accepts any username with a token) unless a `username` key is present.
- `username` + `password`: basic credentials.

The answer is tied to the rig: only a request for `https`, the host (and port) of
GT_REPO_URL and that repository's path gets it. git sends `path` only with
`credential.useHttpPath=true`, which the runtime sets in its env-level config
(gitops.transport_env); a request without a path is refused. Anything else (another host, the
same host's other repositories, plain http, a URL rewritten by `url.<x>.insteadOf` or a
redirect) gets no answer, and git then fails authentication instead of handing the token over.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
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


def _norm_path(path: str) -> str:
    """A repository path compared without slashes at either end, `.git` or percent-encoding."""
    path = urllib.parse.unquote(path).strip("/")
    return path.removesuffix(".git").rstrip("/")


def _norm_host(host: str, port: int | None) -> str:
    host = host.lower().rstrip(".")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal, as git writes it
    return host if port in (None, 443) else f"{host}:{port}"


def rig_target(repo_url: str) -> tuple[str, str] | None:
    """(host[:port], path) of an https rig URL, normalised; None for any other URL."""
    try:
        parts = urllib.parse.urlsplit(repo_url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None
    if parts.username or parts.password:
        return None
    return _norm_host(parts.hostname, port), _norm_path(parts.path)


def request_matches(request: dict[str, str], repo_url: str) -> bool:
    """Whether git's credential request is for the rig's repository, over https."""
    target = rig_target(repo_url)
    if target is None or request.get("protocol", "").lower() != "https":
        return False
    if "path" not in request:
        return False  # useHttpPath is ours to set; without a path we cannot tell the repo
    raw_host = request.get("host", "")
    host, port_text = raw_host, ""
    if raw_host.count(":") == 1:  # host:port (an IPv6 literal comes bracketed, port and all)
        host, _, port_text = raw_host.partition(":")
    try:
        port = int(port_text) if port_text else None
    except ValueError:
        return False
    return (_norm_host(host, port), _norm_path(request["path"])) == target


def parse_request(text: str) -> dict[str, str]:
    request: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            request[key] = value
    return request


def helper_main(argv: list[str], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Entry point of `gt-polecat credential-helper <get|store|erase>`."""
    operation = argv[0] if argv else ""
    request = parse_request(stdin.read())
    if operation != "get":
        return 0  # we never store or erase: the Secret is the only source
    if not request_matches(request, os.environ.get("GT_REPO_URL", "").strip()):
        return 0
    secret_dir = os.environ.get("GT_GIT_SECRET_DIR")
    creds = https_credentials(Path(secret_dir) if secret_dir else None)
    if creds is None:
        return 0
    username, password = creds
    stdout.write(f"username={username}\npassword={password}\n")
    return 0
