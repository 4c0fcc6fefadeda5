"""A Temporal dev server of this module's own, started WITHOUT our search attributes, so
that registering them is observable."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from gastown.sandbox.temporal_dev import free_port, start_dev_argv, wait_for_frontend
from tests.conftest import TemporalDev


def bare_dev_argv(port: int) -> list[str]:
    argv = start_dev_argv(port, None, None)
    while "--search-attribute" in argv:
        at = argv.index("--search-attribute")
        del argv[at : at + 2]
    return argv


@pytest.fixture(scope="module")
def bare_temporal() -> Iterator[TemporalDev]:
    port = free_port()
    proc = subprocess.Popen(
        bare_dev_argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        asyncio.run(wait_for_frontend(f"127.0.0.1:{port}", "default", 60))
        yield TemporalDev(f"127.0.0.1:{port}", "default")
    finally:
        proc.terminate()
        proc.wait()
