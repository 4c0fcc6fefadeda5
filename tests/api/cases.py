"""One table of valid and invalid values, checked against both the pydantic models and the
generated CRD schema, so the two can never disagree about a rule."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

HOSTILE = ["$(rm -rf /)", "`id`", "a b", "x;y", "x\ny", "'quoted'", '"dq"', "x|y", "x&y"]


@dataclass(frozen=True)
class Case:
    kind: str
    path: tuple[str, ...]
    value: Any
    valid: bool

    @property
    def id(self) -> str:
        verdict = "ok" if self.valid else "bad"
        return f"{self.kind}.{'.'.join(self.path)}={self.value!r}:{verdict}"


BASE: dict[str, dict[str, Any]] = {
    "Rig": {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Rig",
        "metadata": {"name": "demo-rig"},
        "spec": {"gitURL": "git@github.com:myorg/myrepo.git", "beadsPrefix": "dm"},
    },
    "Polecat": {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": "furiosa", "namespace": "gastown-system"},
        "spec": {
            "rig": "demo-rig",
            "beadID": "dm-0001",
            "desiredState": "Working",
            "kubernetes": {"gitBranch": "main", "workBranch": "feature/dm-0001"},
        },
    },
    "Convoy": {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Convoy",
        "metadata": {"name": "wave-1", "namespace": "gastown-system"},
        "spec": {"description": "Wave 1", "trackedBeads": ["dm-1", "dm-2"]},
    },
}


def document(case: Case) -> dict[str, Any]:
    doc = copy.deepcopy(BASE[case.kind])
    node = doc
    for key in case.path[:-1]:
        node = node.setdefault(key, {})
    node[case.path[-1]] = case.value
    return doc


def _cases(kind: str, path: tuple[str, ...], good: list[Any], bad: list[Any]) -> list[Case]:
    return [Case(kind, path, v, True) for v in good] + [Case(kind, path, v, False) for v in bad]


BEAD_GOOD = ["issue-123", "dm-0001", "go-cwl", "mp-abc-123", "bd-a1b2.3", "a-" + "b" * 61]
# A trailing newline passes Python's `$` (re.search), never Go's: every field checks it.
BEAD_BAD = [
    "$(rm -rf /)",
    "ISSUE-1",
    "a b",
    "../x",
    "-x",
    "a-" + "b" * 62,
    "dm-",
    "dm",
    "dm--1",
    "dm-0001\n",
]
BRANCH_GOOD = ["main", "feature/issue-123", "release-1.2", "user/x_y+z", "v1.0"]
BRANCH_BAD = [
    "-main",
    "a..b",
    "a b",
    "a//b",
    "a/",
    "/a",
    "a.",
    ".a",
    "a/.b",
    "$(id)",
    "a;b",
    "a`b`",
    "x" * 256,
    "main\n",
]
URL_GOOD = [
    "git@github.com:myorg/myrepo.git",
    "ssh://git@gitlab.com:2222/group/sub/repo.git",
    "ssh://host.example/repo",
    "https://github.com/myorg/myrepo.git",
    "https://git.example.com:8443/a/b",
    "file:///srv/git/repo.git",
]
URL_BAD = [
    "https://user:token@github.com/org/repo.git",
    "https://token@github.com/org/repo.git",
    "http://github.com/org/repo.git",
    "git@github.com:org/$(id).git",
    "ext::sh -c touch% /tmp/pwned",
    "file://relative/path",
    "--upload-pack=touch /tmp/x",
    "git@github.com:org/repo.git;id",
    "",
    "git@github.com:myorg/myrepo.git\n",
]
NAME_BAD = ["Furiosa", "a_b", "-a", "a-", "a" * 64, "a.b", "furiosa\n", "furiosa\n\n"]

CASES: list[Case] = [
    *_cases("Polecat", ("spec", "beadID"), BEAD_GOOD, BEAD_BAD),
    *_cases("Polecat", ("spec", "kubernetes", "gitBranch"), BRANCH_GOOD, BRANCH_BAD),
    *_cases("Polecat", ("spec", "kubernetes", "workBranch"), BRANCH_GOOD, ["a..b", "-x"]),
    *_cases("Polecat", ("spec", "kubernetes", "gitRepository"), URL_GOOD, URL_BAD),
    *_cases("Rig", ("spec", "gitURL"), URL_GOOD, URL_BAD),
    *_cases("Polecat", ("metadata", "name"), ["furiosa", "war-boy", "n2"], NAME_BAD),
    *_cases("Rig", ("metadata", "name"), ["demo-rig", "r1"], NAME_BAD),
    *_cases("Convoy", ("metadata", "name"), ["wave-1"], NAME_BAD),
    *_cases(
        "Polecat", ("spec", "rig"), ["demo-rig", "a.b"], ["Demo", "a b", "", "-x", "demo-rig\n"]
    ),
    *_cases(
        "Polecat",
        ("spec", "desiredState"),
        ["Idle", "Working", "Terminated"],
        ["Done", "working", ""],
    ),
    *_cases("Polecat", ("spec", "executionMode"), ["kubernetes"], ["local", ""]),
    *_cases("Polecat", ("spec", "agent"), ["claude-code", "command"], ["opencode", ""]),
    *_cases("Polecat", ("spec", "kubernetes", "activeDeadlineSeconds"), [1, 3600], [0, -5]),
    *_cases(
        "Polecat", ("spec", "kubernetes", "sshStrictHostKeyChecking"), ["yes"], ["no", "accept-new"]
    ),
    *_cases(
        "Polecat",
        ("spec", "kubernetes", "image"),
        ["ghcr.io/org/polecat-agent:0.1.0", "busybox"],
        ["UPPER/case", "a b", "img:$(id)", "busybox\n"],
    ),
    *_cases(
        "Polecat",
        ("spec", "kubernetes", "gitSecretRef", "name"),
        ["git-creds"],
        ["Git_Creds", "a/b", "git-creds\n"],
    ),
    *_cases(
        "Polecat",
        ("spec", "kubernetes", "apiKeySecretRef"),
        [{"name": "k", "key": "api-key"}],
        [{"name": "k"}, {"name": "k", "key": "a/b"}],
    ),
    *_cases(
        "Polecat",
        ("spec", "kubernetes", "resources", "limits"),
        [{"cpu": "500m", "memory": "4Gi"}, {"cpu": 2}],
        [{"cpu": "lots"}, {"memory": "4 Gi"}, {"cpu": "500m\n"}],
    ),
    *_cases("Polecat", ("spec", "retryPolicy", "maxAttempts"), [1, 2, 10], [0, 11]),
    *_cases("Polecat", ("spec", "maxIdleSeconds"), [1, 600], [0]),
    *_cases("Polecat", ("spec", "ttlSecondsAfterFinished"), [0, 60], [-1]),
    *_cases(
        "Polecat",
        ("spec", "agentConfig", "model"),
        ["claude-sonnet-4-5", "anthropic/claude@1"],
        ["a b", "$(id)", "claude-sonnet-4-5\n"],
    ),
    *_cases(
        "Polecat",
        ("spec", "agentConfig", "env"),
        [[{"name": "FOO", "value": "x"}]],
        [[{"name": "1X=", "value": "x"}], [{"name": "FOO\n", "value": "x"}]],
    ),
    *_cases("Polecat", ("spec", "unknownField"), [], ["x"]),
    *_cases(
        "Rig",
        ("spec", "polecatPolicy", "allowedRepositories"),
        [["https://github.com/myorg/", "git@github.com:myorg/repo.git", "file:///srv/git/"]],
        [["https://u:p@github.com/myorg/"], ["github.com/myorg"], ["https://github.com/a//"]],
    ),
    *_cases(
        "Rig",
        ("spec", "polecatPolicy", "allowedImages"),
        [["ghcr.io/gastown/", "registry.example.com/team/agent:", "quay.io/x/y:1"]],
        [["ghcr.io/Gastown/"], ["ghcr.io/a//"], ["img:$(id)"]],
    ),
    *_cases(
        "Rig",
        ("spec", "polecatPolicy", "allowedSecrets"),
        [["anthropic", "team.git-creds"], []],
        [["Anthropic"], ["a_b"], ["x" * 254], ["creds\n"], ["s"] * 257],
    ),
    *_cases(
        "Polecat",
        ("spec", "agentConfig", "modelProvider", "endpoint"),
        ["https://llm.example.com/v1", "http://litellm.gastown-system:4000"],
        ["https://user:pw@llm.example.com", "ftp://llm.example.com", "https://"],
    ),
    *_cases(
        "Rig",
        ("spec", "beadsPrefix"),
        ["dm", "gt", "ab12"],
        ["DM", "a-b", "", "abcdefghijk", "dm\n"],
    ),
    *_cases("Rig", ("spec", "settings", "maxPolecats"), [1, 100], [0, 101]),
    *_cases(
        "Rig",
        ("spec", "settings", "namepoolTheme"),
        ["mad-max", "minerals", "wasteland"],
        ["fury-road", ""],
    ),
    *_cases(
        "Rig",
        ("spec", "settings", "polecatDefaults", "baseBranch"),
        ["develop"],
        ["a..b", "develop\n"],
    ),
    *_cases("Convoy", ("spec", "parallelism"), [0, 5], [-1]),
    *_cases(
        "Convoy",
        ("spec", "trackedBeads"),
        [["dm-1"], ["dm-1", "dm-2.1"]],
        [[], ["ISSUE-1"], ["$(id)"], ["dm-1\n"]],
    ),
    *_cases("Convoy", ("spec", "description"), ["Wave 1"], [""]),
    *_cases("Convoy", ("spec", "failurePolicy"), ["Continue", "Stop", "Retry"], ["Abort"]),
    *_cases("Convoy", ("spec", "maxRetries"), [0, 10], [-1, 11]),
    *_cases("Convoy", ("spec", "maxCostUSD"), [0.01, 25, 1_000_000], [0, -1, 1_000_001]),
    *_cases("Convoy", ("spec", "agent"), ["claude-code", "command"], ["bash"]),
]
