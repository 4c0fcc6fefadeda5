"""spec.polecatPolicy's matching: exact entries, and prefixes only at a separator."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gastown.api.rig import PolecatPolicy

RIG_URL = "git@github.com:myorg/main.git"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (RIG_URL, True),  # the rig's own repository, always
        ("https://github.com/myorg/repo.git", True),
        ("https://github.com/myorg/sub/repo.git", True),
        ("git@github.com:myorg/other.git", True),
        ("https://git.example.com/exact.git", True),
        ("https://github.com/myorg-evil/repo.git", False),
        ("https://github.com/myorg/../evil/repo.git", False),
        ("https://github.com/myorg/./repo.git", False),
        ("https://github.com/other/repo.git", False),
        ("https://git.example.com/exact.git2", False),
        ("https://evil.example.com/myorg/repo.git", False),
    ],
)
def test_repository_pins(url: str, allowed: bool) -> None:
    policy = PolecatPolicy(
        allowed_repositories=[
            "https://github.com/myorg/",
            "git@github.com:myorg/",
            "https://git.example.com/exact.git",
        ]
    )
    assert policy.repository_allowed(url, RIG_URL) is allowed


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("ghcr.io/gastown/polecat-agent:0.1.0", True),
        ("registry.example.com/team/agent:2", True),
        ("registry.example.com/team/agent@sha256:" + "a" * 64, False),
        ("quay.io/exact/image:1", True),
        ("ghcr.io/gastown-evil/agent:1", False),
        ("registry.example.com/team/agent-evil:1", False),
        ("quay.io/exact/image:2", False),
        ("docker.io/library/python:3", False),
        # After a `:` pin comes a tag, never a port and a path on another registry.
        ("registry.example.com/team/agent:5000/evil/x", False),
        ("ghcr.io:443/evil/x", False),
    ],
)
def test_image_pins(image: str, allowed: bool) -> None:
    policy = PolecatPolicy(
        allowed_images=[
            "ghcr.io/gastown/",
            "registry.example.com/team/agent:",
            "quay.io/exact/image:1",
            "ghcr.io:",
        ]
    )
    assert policy.image_allowed(image) is allowed


def test_unset_pins_allow_anything() -> None:
    assert PolecatPolicy().repository_allowed("https://anywhere.example.com/x.git", RIG_URL)
    assert PolecatPolicy().image_allowed("docker.io/anything:1")


@pytest.mark.parametrize(
    "field",
    [
        {"allowedRepositories": ["https://user:pw@github.com/myorg/"]},
        {"allowedRepositories": ["github.com/myorg"]},
        {"allowedRepositories": ["https://github.com/myorg//"]},
        {"allowedImages": ["ghcr.io/gastown//"]},
        {"allowedImages": ["ghcr.io/Gastown/"]},
    ],
)
def test_malformed_pins_are_refused(field: dict[str, list[str]]) -> None:
    with pytest.raises(ValidationError):
        PolecatPolicy.model_validate(field)
