"""Reading: get one object, list by selector (the items, or the list with its version),
existence, Secret data, pod logs."""

from __future__ import annotations

from typing import Any

from gastown.kube.calls import JSON, Op, Request, one, query
from gastown.kube.errors import NotFound
from gastown.kube.resources import SECRETS, Resource


def get(resource: Resource, name: str, namespace: str | None = None) -> Op[JSON]:
    """The object as the API server has it; NotFound if it does not exist."""
    return one(Request("GET", resource.path(namespace, name)))


def get_or_none(resource: Resource, name: str, namespace: str | None = None) -> Op[JSON | None]:
    try:
        found: JSON = yield from get(resource, name, namespace)
    except NotFound:
        return None
    return found


def listing(
    resource: Resource,
    namespace: str | None = None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    timeout: float | None = None,
) -> Op[JSON]:
    """The list document: `items` and, in `metadata.resourceVersion`, the version a watch
    goes on from (an informer lists, then watches)."""
    return one(
        Request(
            "GET",
            resource.path(namespace),
            query(labelSelector=label_selector, fieldSelector=field_selector),
            timeout=timeout,
        )
    )


def items(
    resource: Resource,
    namespace: str | None = None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> Op[list[JSON]]:
    """The objects of a kind in one namespace (None: all namespaces, or a cluster-scoped kind)."""
    found = yield from listing(
        resource, namespace, label_selector=label_selector, field_selector=field_selector
    )
    listed: list[JSON] = found.get("items") or []
    return listed


def exists(resource: Resource, name: str, namespace: str | None = None) -> Op[bool]:
    """Existence only: the object (a Secret's data, say) is dropped at once."""
    found = yield from get_or_none(resource, name, namespace)
    return found is not None


def secret_data(namespace: str, name: str) -> Op[dict[str, str]]:
    """The Secret's base64 data map. Callers decode only what they must check, and never log,
    return or record it."""
    secret = yield from get(SECRETS, name, namespace)
    return {str(k): str(v) for k, v in (secret.get("data") or {}).items()}


def pod_logs(
    namespace: str,
    pod: str,
    *,
    container: str | None = None,
    tail_lines: int | None = None,
    follow: bool = False,
) -> Op[Any]:
    """The container's log as text, or (follow) the open response to stream chunks from."""
    from gastown.kube.resources import PODS

    return one(
        Request(
            "GET",
            PODS.path(namespace, pod, "log"),
            query(container=container, tailLines=tail_lines, follow=follow or None),
            read="stream" if follow else "text",
        )
    )
