"""Open a pull request (GitHub) or merge request (GitLab) for the pushed work branch.

Plain REST over urllib: one POST, and on "already exists" one GET to find the open one, so a
retried pod reports the same URL instead of failing. The token is read from a mounted file and
sent only in the Authorization / PRIVATE-TOKEN header.

The token goes only to the configured forge: over https, to the repository's own host,
`api.github.com` for github.com, or the host of the operator's GT_FORGE_API_URL. Anything else
is refused before a connection is made (the result says the PR was skipped, and why).
Redirects are never followed: urllib would carry the Authorization header to wherever a 3xx
points, plain http included.
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gastown.runtime import redact


class ForgeError(Exception):
    pass


class ForgeRefused(ForgeError):
    """The API URL is not one the token may be sent to; nothing was sent."""


@dataclass(frozen=True)
class RepoRef:
    host: str
    path: str  # owner/repo (GitLab: group/subgroup/project)

    @property
    def owner(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def parse_repo(url: str) -> RepoRef | None:
    """host and owner/repo from an https, ssh:// or scp-like URL."""
    match = re.match(r"^[a-z+]+://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+)$", url)
    if match is None:
        match = re.match(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$", url)
    if match is None:
        return None
    path = match.group("path").strip("/")
    path = path.removesuffix(".git")
    if "/" not in path:
        return None
    return RepoRef(match.group("host"), path)


def forge_kind(explicit: str | None, repo: RepoRef) -> str:
    if explicit:
        return explicit
    return "gitlab" if "gitlab" in repo.host else "github"


def default_api_url(kind: str, repo: RepoRef) -> str:
    if kind == "gitlab":
        return f"https://{repo.host}/api/v4"
    if repo.host == "github.com":
        return "https://api.github.com"
    return f"https://{repo.host}/api/v3"  # GitHub Enterprise Server


def _host(url: str) -> str:
    try:
        return (urllib.parse.urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def allowed_api_hosts(repo: RepoRef, operator_api_url: str | None) -> frozenset[str]:
    """Hosts the forge token may go to: the repository's, api.github.com for github.com, and
    the host of the API URL the operator configured (GT_FORGE_API_URL)."""
    hosts = {repo.host.lower().rstrip(".")}
    if repo.host.lower() == "github.com":
        hosts.add("api.github.com")
    if operator_api_url:
        hosts.add(_host(operator_api_url))
    return frozenset(h for h in hosts if h)


def check_api_url(api_url: str, allowed_hosts: frozenset[str]) -> None:
    """Raise ForgeRefused unless `api_url` is https at one of `allowed_hosts`."""
    try:
        parts = urllib.parse.urlsplit(api_url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ForgeRefused("pull request skipped: the forge API URL is malformed") from None
    if parts.scheme.lower() != "https":
        raise ForgeRefused(
            f"pull request skipped: the forge API URL must be https, got {parts.scheme or 'none'}"
            "://; the token is not sent in the clear"
        )
    if parts.username or parts.password:
        raise ForgeRefused("pull request skipped: the forge API URL must not embed credentials")
    host = _host(api_url)
    if host not in allowed_hosts:
        raise ForgeRefused(
            f"pull request skipped: the forge API host {host!r} is not the repository's host "
            f"({', '.join(sorted(allowed_hosts)) or 'none'}); the token is not sent there. An "
            "operator sets GT_FORGE_API_URL for a forge API on another host"
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx comes back as an HTTPError: the token follows no redirect


def _opener(ca_file: Path | None) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))  # a self-hosted forge's private CA
    return urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))


def _request(
    opener: urllib.request.OpenerDirector,
    method: str,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - https, checked
    for key, value in headers.items():
        req.add_header(key, value)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except ValueError:
            return exc.code, raw.decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ForgeError(redact.redact(f"{method} {url}: {exc}")) from None


def open_pull_request(
    *,
    kind: str,
    api_url: str,
    token: str,
    repo: RepoRef,
    head: str,
    base: str,
    title: str,
    body: str,
    allowed_hosts: frozenset[str],
    ca_file: Path | None = None,
) -> str:
    """Create (or find) the pull request and return its web URL.

    The title and body are redacted here, whatever the caller composed them from (the
    agent's own words among them)."""
    check_api_url(api_url, allowed_hosts)
    title, body = redact.redact(title), redact.redact(body)
    opener = _opener(ca_file)
    api = api_url.rstrip("/")
    if kind == "gitlab":
        headers = {"PRIVATE-TOKEN": token, "Accept": "application/json"}
        project = urllib.parse.quote(repo.path, safe="")
        base_url = f"{api}/projects/{project}/merge_requests"
        status, doc = _request(
            opener,
            "POST",
            base_url,
            headers,
            {"source_branch": head, "target_branch": base, "title": title, "description": body},
        )
        if status in (200, 201) and isinstance(doc, dict) and doc.get("web_url"):
            return str(doc["web_url"])
        if status == 409:
            query = urllib.parse.urlencode(
                {"source_branch": head, "target_branch": base, "state": "opened"}
            )
            status2, found = _request(opener, "GET", f"{base_url}?{query}", headers)
            if status2 == 200 and isinstance(found, list) and found:
                return str(found[0]["web_url"])
        raise ForgeError(redact.redact(f"GitLab answered {status}: {str(doc)[:500]}"))
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    pulls = f"{api}/repos/{repo.owner}/{repo.name}/pulls"
    status, doc = _request(
        opener, "POST", pulls, headers, {"title": title, "head": head, "base": base, "body": body}
    )
    if status == 201 and isinstance(doc, dict) and doc.get("html_url"):
        return str(doc["html_url"])
    if status == 422 and "already exists" in json.dumps(doc):
        query = urllib.parse.urlencode({"head": f"{repo.owner}:{head}", "state": "open"})
        status2, found = _request(opener, "GET", f"{pulls}?{query}", headers)
        if status2 == 200 and isinstance(found, list) and found:
            return str(found[0]["html_url"])
    raise ForgeError(redact.redact(f"GitHub answered {status}: {str(doc)[:500]}"))
