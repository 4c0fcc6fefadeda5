"""The validation vocabulary shared by the pydantic models and the generated CRD schemas.

Every pattern here is written for RE2 (no look-around, no back-references), because the
Kubernetes API server evaluates CRD `pattern`s with Go's regexp package, and the same string
must mean the same thing in Python's `re`, in jsonschema and in the API server. Rules a
regular expression cannot say without look-around (a git ref must not end in `.lock`) are
checked in Python as well and stated in the CRD through CEL. One difference remains: Python's
`$` also matches before a final newline, Go's does not; Python code therefore checks with
`matches()` (a full match), and the sandbox reads schema patterns as Go does.
"""

from __future__ import annotations

import re
from typing import Final

# Kubernetes object names (metadata.name of most kinds; Secret/ConfigMap names).
DNS1123_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_SUBDOMAIN_MAX: Final = 253
# Names that end up inside other names and label values (pods are `<polecat>-<attempt>`).
DNS1123_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_LABEL_MAX: Final = 63
POLECAT_NAME_MAX: Final = 52  # leaves room for "-a" + attempt in a 63-char label value

# Keys inside a Secret or ConfigMap.
CONFIG_KEY: Final = r"^[-._a-zA-Z0-9]+$"
CONFIG_KEY_MAX: Final = 253

# Gas Town bead IDs: a lowercase prefix, a dash, then lowercase alphanumeric words joined by
# single `-` or `.` (hierarchical children such as bd-a1b2.3). Nothing a shell could read.
BEAD_ID: Final = r"^[a-z][a-z0-9]*-[a-z0-9]+([.-][a-z0-9]+)*$"
BEAD_ID_MAX: Final = 63
BEADS_PREFIX: Final = r"^[a-z][a-z0-9]{0,9}$"

# Git refs by git-check-ref-format, narrowed to characters no shell treats specially:
# components of [A-Za-z0-9_+-] words joined by single dots, separated by single slashes;
# no leading `-`, `.` or `/`, no `..`, `//`, trailing `.` or `/`. `.lock` is checked apart.
_REF_WORD: Final = r"[A-Za-z0-9_+-]+"
_REF_COMPONENT: Final = rf"{_REF_WORD}(\.{_REF_WORD})*"
GIT_BRANCH: Final = rf"^[A-Za-z0-9_+]([A-Za-z0-9_+-]*)(\.{_REF_WORD})*(/{_REF_COMPONENT})*$"
GIT_BRANCH_MAX: Final = 255
GIT_BRANCH_FORBIDDEN_SUFFIX: Final = ".lock"

# Git remotes we can clone without a shell: scp-like ssh, ssh://, https:// (credentials come
# from a Secret through a credential helper, so a URL carrying user:password is refused), and
# file:// for local repositories.
_HOST: Final = r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"
_PATH: Final = r"[A-Za-z0-9._~+-]+(/[A-Za-z0-9._~+-]+)*"
_USER: Final = r"[A-Za-z0-9._-]+"
GIT_URL: Final = (
    r"^("
    rf"{_USER}@{_HOST}:/?{_PATH}"  # git@github.com:org/repo.git
    rf"|ssh://({_USER}@)?{_HOST}(:[0-9]{{1,5}})?/{_PATH}"  # ssh://git@host:22/org/repo.git
    rf"|https://{_HOST}(:[0-9]{{1,5}})?/{_PATH}"  # https://github.com/org/repo.git
    rf"|file:///{_PATH}/?"  # file:///srv/git/repo.git
    r")$"
)
GIT_URL_MAX: Final = 2048
# A Rig's pin on its polecats' repositories: a git URL as above, or a prefix of one ending in
# `/` (`https://github.com/myorg/`, `git@github.com:myorg/`).
_PIN_PATH: Final = rf"({_PATH}/?)?"
REPOSITORY_PIN: Final = (
    r"^("
    rf"{_USER}@{_HOST}:/?{_PATH}/?"
    rf"|ssh://({_USER}@)?{_HOST}(:[0-9]{{1,5}})?/{_PIN_PATH}"
    rf"|https://{_HOST}(:[0-9]{{1,5}})?/{_PIN_PATH}"
    rf"|file:///{_PIN_PATH}"
    r")$"
)

# Container images: registry/repository[:tag][@digest], lowercase repository as Docker requires.
# A registry is a host with a dot or a port, or localhost (Docker's own rule).
_REGISTRY: Final = (
    r"([a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)+(:[0-9]+)?|localhost(:[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+)"
)
_IMAGE_NAME: Final = r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
IMAGE: Final = (
    rf"^({_REGISTRY}/)?{_IMAGE_NAME}"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
# A Rig's pin on its polecats' images: an image as above, or a prefix ending in `/` (a
# registry or a namespace in it) or `:` (any tag of one repository).
IMAGE_PIN: Final = (
    rf"^(({_REGISTRY}/)?{_IMAGE_NAME}"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?"
    rf"|({_REGISTRY}/)?{_IMAGE_NAME}[/:]|{_REGISTRY}/)$"
)
IMAGE_MAX: Final = 512

# resource.Quantity, as the Kubernetes OpenAPI spells it.
QUANTITY: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
    r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

# metav1.Condition.type: an optional DNS-subdomain prefix, then a qualified name.
CONDITION_TYPE: Final = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)

# metav1.Condition.reason
CONDITION_REASON: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

# Environment variable names passed to the agent.
ENV_NAME: Final = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"

TASK_DESCRIPTION_MAX: Final = 256 * 1024


def matches(pattern: str, value: str) -> bool:
    """Whole-value match, as the API server's Go regexp reads these `^...$` patterns.

    Python's `$` also matches before a final newline, so `re.search` would let "furiosa\n"
    through; `fullmatch` does not.
    """
    return re.fullmatch(pattern, value) is not None


def is_git_branch(value: str) -> bool:
    """A branch name git itself would accept, without shell metacharacters."""
    return (
        len(value) <= GIT_BRANCH_MAX
        and matches(GIT_BRANCH, value)
        and not any(part.endswith(GIT_BRANCH_FORBIDDEN_SUFFIX) for part in value.split("/"))
    )
