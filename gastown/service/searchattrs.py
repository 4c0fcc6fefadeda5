"""`--register-search-attributes`: make sure the namespace knows GastownRig, GastownBead, …

The workflows upsert them (workflows/contract.py is the one list), and a server refuses an
upsert of an attribute it does not know. Registering is idempotent: only the missing ones are
added, and one that another replica added in the meantime is fine. Temporal Cloud refuses the
operator service to API keys and namespace certificates; that refusal is logged with how to
register them there, and the worker goes on.
"""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gastown.workflows.contract import SEARCH_ATTRIBUTES

log = logging.getLogger("gastown.worker")

# What the server says when it will not let this client register: Temporal Cloud, or a
# server whose authorizer keeps the operator service to admins.
REFUSED = {
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.UNIMPLEMENTED,
}


def wanted() -> dict[str, IndexedValueType.ValueType]:
    return {
        key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in SEARCH_ATTRIBUTES
    }


def next_step(namespace: str) -> str:
    kinds = {key.name: key.indexed_value_type.name.title() for key in SEARCH_ATTRIBUTES}
    cloud = " ".join(f"--sa {name}={kind}" for name, kind in kinds.items())
    return (
        f"register them once as an admin: on Temporal Cloud `tcld namespace search-attributes "
        f"add --namespace {namespace} {cloud}`; on a self-hosted server `temporal operator "
        f"search-attribute create --namespace {namespace} "
        + " ".join(f"--name {name} --type {kind}" for name, kind in kinds.items())
        + "`"
    )


async def register_search_attributes(client: Client) -> list[str]:
    """Add the missing ones; returns their names (empty: all were there, or refused)."""
    namespace = client.namespace
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        present = set(listed.custom_attributes) | set(listed.system_attributes)
        missing = {k: v for k, v in wanted().items() if k not in present}
        if not missing:
            log.info("search attributes: all %d present in %s", len(wanted()), namespace)
            return []
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            log.info("search attributes: another process registered them in %s", namespace)
            return []
        if exc.status in REFUSED:
            log.warning(
                "search attributes: the server refused to register them in %s (%s); %s",
                namespace,
                exc.message,
                next_step(namespace),
            )
            return []
        raise
    log.info("search attributes: registered %s in %s", ", ".join(sorted(missing)), namespace)
    return sorted(missing)
