"""Typed resource descriptors: where each kind we touch lives in the API.

A descriptor turns (namespace, name, subresource) into the request path, so no caller spells a
group, version or plural again, and cluster-scoped kinds cannot be addressed with a namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from gastown.api.group import GROUP, VERSION


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """/api/v1/namespaces/ns/pods/name/status and the like; no namespace lists across all."""
        if namespace is not None and not self.namespaced:
            raise ValueError(f"{self.plural} are cluster-scoped: no namespace")
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if namespace is not None:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


POLECATS = Resource(GROUP, VERSION, "polecats", "Polecat")
RIGS = Resource(GROUP, VERSION, "rigs", "Rig", namespaced=False)
CONVOYS = Resource(GROUP, VERSION, "convoys", "Convoy")
PODS = Resource("", "v1", "pods", "Pod")
SECRETS = Resource("", "v1", "secrets", "Secret")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
