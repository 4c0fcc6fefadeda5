"""Discovery documents (/api, /apis, /apis/<g>/<v>) and /version.

Legacy (unaggregated) discovery only: kubectl asks for aggregated discovery first and falls back
when the server answers with a plain APIGroupList, as older apiservers do.
"""

from __future__ import annotations

from typing import Any

from gastown.sandbox.resources import Registry, ResourceType

JSON = dict[str, Any]

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "log": ["get"],
    "finalize": ["update"],
    "scale": ["get", "patch", "update"],
    "token": ["create"],
}


def version_info() -> JSON:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-gastown-sandbox",
        "gitCommit": "sandbox",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_entry(group: str, versions: list[str]) -> JSON:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def group_list(registry: Registry) -> JSON:
    groups = [_group_entry(g, vs) for g, vs in sorted(registry.groups().items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(registry: Registry, name: str) -> JSON | None:
    versions = registry.groups().get(name)
    if not versions or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(name, versions)}


def _resource_entry(rt: ResourceType) -> JSON:
    entry: JSON = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def resource_list(registry: Registry, group_name: str, version: str) -> JSON | None:
    types = [rt for rt in registry.all() if rt.group == group_name and rt.version == version]
    if not types:
        return None
    resources: list[JSON] = []
    for rt in sorted(types, key=lambda t: t.plural):
        resources.append(_resource_entry(rt))
        for sub in rt.subresources:
            entry = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": "Pod" if sub == "log" else rt.kind,
                "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
            if sub == "token":  # another group's kind, as the apiserver lists it
                entry.update(group="authentication.k8s.io", version="v1", kind="TokenRequest")
            resources.append(entry)
    gv = f"{group_name}/{version}" if group_name else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }
