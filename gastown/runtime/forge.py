"""Open a pull request (GitHub) or merge request (GitLab) for the pushed work branch.

Plain REST over urllib: one POST, and on "already exists" one GET to find the open one, so a
retried pod reports the same URL instead of failing. The token is read from a mounted file and
sent only in the Authorization / PRIVATE-TOKEN header.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from gastown.runtime import redact


class ForgeError(Exception):
    pass


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


def _request(
    method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
    for key, value in headers.items():
        req.add_header(key, value)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
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
) -> str:
    """Create (or find) the pull request and return its web URL."""
    if not api_url.startswith(("https://", "http://")):
        raise ForgeError(f"forge API URL must be http(s): {api_url!r}")
    api = api_url.rstrip("/")
    if kind == "gitlab":
        headers = {"PRIVATE-TOKEN": token, "Accept": "application/json"}
        project = urllib.parse.quote(repo.path, safe="")
        base_url = f"{api}/projects/{project}/merge_requests"
        status, doc = _request(
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
            status2, found = _request("GET", f"{base_url}?{query}", headers)
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
        "POST", pulls, headers, {"title": title, "head": head, "base": base, "body": body}
    )
    if status == 201 and isinstance(doc, dict) and doc.get("html_url"):
        return str(doc["html_url"])
    if status == 422 and "already exists" in json.dumps(doc):
        query = urllib.parse.urlencode({"head": f"{repo.owner}:{head}", "state": "open"})
        status2, found = _request("GET", f"{pulls}?{query}", headers)
        if status2 == 200 and isinstance(found, list) and found:
            return str(found[0]["html_url"])
    raise ForgeError(redact.redact(f"GitHub answered {status}: {str(doc)[:500]}"))
