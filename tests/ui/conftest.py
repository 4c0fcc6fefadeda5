"""The Temporal Web UI in a real browser: headless Chromium (Debian's `chromium`, installed by
`make test-tools`) against a dev server that serves its UI (the `temporal_ui` fixture).

Screenshots of the pages checked are kept in ARTIFACTS (tests/ui/artifacts/, git-ignored; or
GASTOWN_TEST_ARTIFACTS), one PNG per page, overwritten by the next run; the paths are listed at
the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.conftest import TemporalDev
from tests.ui.chromium import Chromium, chromium_binary, chromium_version

ARTIFACTS = Path(
    os.environ.get("GASTOWN_TEST_ARTIFACTS", Path(__file__).resolve().parent / "artifacts")
)
_KEPT: list[Path] = []


def keep(path: Path) -> Path:
    """Name a screenshot for the run's summary."""
    _KEPT.append(path)
    return path


def pytest_report_header() -> str:
    binary = chromium_binary()
    return f"chromium: {chromium_version(binary) if binary else 'missing (make test-tools)'}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _KEPT:
        terminalreporter.section("Temporal UI screenshots")
        for path in _KEPT:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="session")
def browser() -> Iterator[Chromium]:
    binary = chromium_binary()
    if binary is None:
        pytest.fail(
            "chromium is missing: run `make test-tools` as root (it apt-get installs Debian's "
            "chromium), or set GASTOWN_TEST_CHROMIUM to a Chromium binary"
        )
    chrome = Chromium(binary)
    try:
        yield chrome
    finally:
        chrome.close()


@dataclass
class UIWorld:
    dev: TemporalDev
    client: Client

    @property
    def ui(self) -> str:
        assert self.dev.ui_url is not None
        return self.dev.ui_url


@pytest.fixture(scope="session")
async def ui_world(temporal_ui: TemporalDev) -> UIWorld:
    """The UI's dev server and a client of it speaking our messages (pydantic)."""
    client = await Client.connect(
        temporal_ui.address,
        namespace=temporal_ui.namespace,
        data_converter=pydantic_data_converter,
    )
    return UIWorld(temporal_ui, client)
