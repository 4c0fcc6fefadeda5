"""Resource types the sandbox serves: the built-ins and whatever CRDs get installed.

A `ResourceType` is one (group, version, plural); objects are stored per (group, plural) so
every served version of a CRD sees the same objects (conversion strategy `None`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status_subresource: bool = False
    subresources: tuple[str, ...] = ()
    schema: JSON | None = None
    columns: tuple[JSON, ...] = ()
    custom: bool = False
    served: bool = True
    storage: bool = True
    has_generation: bool = False
    crd_name: str = ""
    # Another group's storage this type is a view of (events.k8s.io over core events).
    storage_group: str | None = None
    extra: JSON = field(default_factory=dict, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: every version of a group/plural shares objects."""
        return (self.storage_group if self.storage_group is not None else self.group, self.plural)

    @property
    def qualified(self) -> str:
        """The resource as apiserver messages name it: `polecats.gastown.gastown.io`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _core(plural: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType("", "v1", plural, kind, namespaced, singular=kind.lower(), **kw)


BUILTINS: tuple[ResourceType, ...] = (
    _core(
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        status_subresource=True,
        subresources=("status", "finalize"),
    ),
    _core(
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        status_subresource=True,
        subresources=("status", "log"),
        has_generation=True,
    ),
    _core("secrets", "Secret"),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("events", "Event", short_names=("ev",)),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    # Stored only (no proxy, no endpoints): enough for `kubectl get all` and cluster-info.
    _core(
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        status_subresource=True,
        subresources=("status",),
    ),
    _core(
        "nodes",
        "Node",
        False,
        short_names=("no",),
        status_subresource=True,
        subresources=("status",),
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, singular="lease"),
    ResourceType(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        singular="event",
        short_names=("ev",),
        storage=False,
        storage_group="",
    ),
    # Answered, never stored: one token may do everything in the sandbox.
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        singular="selfsubjectaccessreview",
        verbs=("create",),
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        singular="customresourcedefinition",
        short_names=("crd", "crds"),
        status_subresource=True,
        subresources=("status",),
    ),
    # Stored only, no controller acts on them: what the Helm chart installs besides RBAC, so
    # `kubectl apply --server-side` of the rendered chart can be tested (tests/charts).
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        singular="deployment",
        short_names=("deploy",),
        categories=("all",),
        status_subresource=True,
        subresources=("status",),
        has_generation=True,
    ),
    ResourceType(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        True,
        singular="poddisruptionbudget",
        short_names=("pdb",),
        status_subresource=True,
        subresources=("status",),
        has_generation=True,
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        True,
        singular="networkpolicy",
        short_names=("netpol",),
        has_generation=True,
    ),
)


def from_crd(crd: JSON) -> list[ResourceType]:
    """Every served version of a CRD as a ResourceType (the apiserver's view of it)."""
    spec = crd["spec"]
    names = spec["names"]
    out: list[ResourceType] = []
    for v in spec.get("versions", []):
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        subs = v.get("subresources") or {}
        out.append(
            ResourceType(
                group=spec["group"],
                version=v["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in subs,
                subresources=tuple(k for k in ("status", "scale") if k in subs),
                schema=schema,
                columns=tuple(v.get("additionalPrinterColumns") or ()),
                custom=True,
                served=bool(v.get("served", True)),
                storage=bool(v.get("storage", False)),
                has_generation=True,
                crd_name=crd["metadata"]["name"],
            )
        )
    return out


class Registry:
    """Lookup of served resource types by path and by kind."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rt in BUILTINS:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove_crd(self, crd_name: str) -> None:
        for k, rt in list(self._types.items()):
            if rt.crd_name == crd_name:
                del self._types[k]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._types.get((group, version, plural))
        return rt if rt is not None and rt.served else None

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        """The storage version of a group/plural (first served when none is marked)."""
        candidates = [rt for rt in self._types.values() if rt.key == key]
        for rt in candidates:
            if rt.storage:
                return rt
        return candidates[0] if candidates else None

    def all(self) -> list[ResourceType]:
        return [rt for rt in self._types.values() if rt.served]

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, core ("") included."""
        out: dict[str, list[str]] = {}
        for rt in self.all():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out
