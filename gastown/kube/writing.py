"""Creating, replacing and deleting whole objects."""

from __future__ import annotations

from typing import Literal

from gastown.kube.calls import JSON, Op, Request, one, query
from gastown.kube.errors import Conflict, NotFound
from gastown.kube.resources import Resource


def _namespace(resource: Resource, body: JSON, namespace: str | None) -> str | None:
    """The explicit namespace, else the body's own (namespaced kinds only)."""
    if namespace is not None or not resource.namespaced:
        return namespace
    ns = (body.get("metadata") or {}).get("namespace")
    return str(ns) if ns else None


def create(resource: Resource, body: JSON, namespace: str | None = None) -> Op[JSON]:
    """Conflict if an object of that name exists already."""
    ns = _namespace(resource, body, namespace)
    return one(Request("POST", resource.path(ns), body=body))


def replace(resource: Resource, body: JSON, namespace: str | None = None) -> Op[JSON]:
    """A PUT; with metadata.resourceVersion set, Conflict if the object moved meanwhile."""
    ns = _namespace(resource, body, namespace)
    return one(Request("PUT", resource.path(ns, str(body["metadata"]["name"])), body=body))


def create_or_replace(resource: Resource, body: JSON, namespace: str | None = None) -> Op[JSON]:
    """Create, or replace what is there under that name (read first for its resourceVersion,
    so a concurrent writer makes this fail with Conflict rather than be overwritten blind)."""
    try:
        created: JSON = yield from create(resource, body, namespace)
    except Conflict:
        pass
    else:
        return created
    ns = _namespace(resource, body, namespace)
    name = str(body["metadata"]["name"])
    current = yield Request("GET", resource.path(ns, name))
    version = current["metadata"]["resourceVersion"]
    fresh = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
    replaced: JSON = yield from replace(resource, fresh, ns)
    return replaced


def delete(
    resource: Resource,
    name: str,
    namespace: str | None = None,
    *,
    uid: str | None = None,
    grace_seconds: int | None = None,
    propagation: Literal["Background", "Foreground", "Orphan"] | None = None,
) -> Op[bool]:
    """Delete; with `uid`, only that incarnation (a precondition: a newer object of the same
    name is left alone). False when there was nothing (of that uid) to delete.
    `grace_seconds` overrides the object's grace period (0: at once), `propagation` how its
    dependents go."""
    options: JSON = {
        "preconditions": {"uid": uid} if uid else None,
        "gracePeriodSeconds": grace_seconds,
        "propagationPolicy": propagation,
    }
    body: JSON | None = {k: v for k, v in options.items() if v is not None} or None
    try:
        yield Request("DELETE", resource.path(namespace, name), body=body)
    except NotFound:
        return False
    except Conflict:
        if uid:
            return False  # replaced by an object we do not own
        raise
    return True


def delete_collection(resource: Resource, namespace: str, label_selector: str) -> Op[JSON]:
    return one(Request("DELETE", resource.path(namespace), query(labelSelector=label_selector)))
