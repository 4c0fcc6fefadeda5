"""The session Temporal dev server fixture: reachable, with gastown's search attributes."""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from gastown.sandbox.temporal_dev import SEARCH_ATTRIBUTES
from gastown.workflows import contract as c
from tests.conftest import TemporalDev


async def test_dev_server_has_our_search_attributes(temporal: TemporalDev) -> None:
    client = await Client.connect(temporal.address, namespace=temporal.namespace)
    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=temporal.namespace)
    )
    # Every key the workflows use, with the type they use it as.
    assert set(SEARCH_ATTRIBUTES) == {key.name for key in c.SEARCH_ATTRIBUTES}
    for key in c.SEARCH_ATTRIBUTES:
        assert resp.custom_attributes.get(key.name) == key.indexed_value_type, key.name
