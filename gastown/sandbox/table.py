"""Server-side printing: `meta.k8s.io/v1 Table` responses, as kubectl get asks for them.

kubectl prints whatever columns the server sends, so CRD printer columns
(additionalPrinterColumns, JSONPath) and the built-ins' familiar columns are rendered here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gastown.sandbox import clock
from gastown.sandbox.resources import ResourceType

JSON = dict[str, Any]
Cell = Callable[[JSON], Any]

_NAME_COL: JSON = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}


def human_age(when: str | None, now: datetime | None = None) -> str:
    """`5s`, `3m`, `2h`, `4d` — apimachinery's duration.HumanDuration, simplified."""
    if not when:
        return "<unknown>"
    seconds = int(((now or clock.now()) - clock.parse(when)).total_seconds())
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def jsonpath(obj: Any, path: str) -> Any:
    """The subset of JSONPath printer columns use: `.a.b`, `.a[0].b`, `.a['x.y']`."""
    tokens = re.findall(r"\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\['([^']+)'\]", path)
    cur = obj
    for field, index, quoted in tokens:
        if index:
            cur = cur[int(index)] if isinstance(cur, list) and int(index) < len(cur) else None
        else:
            key = field or quoted
            cur = cur.get(key) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def _age(obj: JSON) -> str:
    return human_age(obj.get("metadata", {}).get("creationTimestamp"))


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "") -> JSON:
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def pod_status_reason(pod: JSON) -> str:
    """The STATUS column of `kubectl get pods`, following the kubelet printer's rules."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    inits = status.get("initContainerStatuses") or []
    total_init = len((pod.get("spec") or {}).get("initContainers") or [])
    initializing = False
    for i, cs in enumerate(inits):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif (state.get("waiting") or {}).get("reason") not in (None, "PodInitializing"):
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{total_init}"
        initializing = True
        break
    if not initializing:
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                reason = f"ExitCode:{state['terminated'].get('exitCode')}"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_ready(pod: JSON) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _restarts(pod: JSON) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def _involved(ev: JSON) -> str:
    inv = ev.get("involvedObject") or ev.get("regarding") or {}
    return f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}"


_BUILTIN: dict[tuple[str, str], list[tuple[JSON, Cell]]] = {
    ("", "pods"): [
        (_col("Ready"), _pod_ready),
        (_col("Status"), pod_status_reason),
        (_col("Restarts", "string"), lambda p: str(_restarts(p))),
        (_col("Age"), _age),
        (_col("IP", priority=1), lambda p: (p.get("status") or {}).get("podIP") or "<none>"),
        (_col("Node", priority=1), lambda p: (p.get("spec") or {}).get("nodeName") or "<none>"),
    ],
    ("", "namespaces"): [
        (_col("Status"), lambda o: (o.get("status") or {}).get("phase", "")),
        (_col("Age"), _age),
    ],
    ("", "secrets"): [
        (_col("Type"), lambda o: o.get("type", "")),
        (_col("Data", "integer"), lambda o: len(o.get("data") or {})),
        (_col("Age"), _age),
    ],
    ("", "configmaps"): [
        (
            _col("Data", "integer"),
            lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        ),
        (_col("Age"), _age),
    ],
    ("", "serviceaccounts"): [
        (_col("Secrets", "integer"), lambda o: len(o.get("secrets") or [])),
        (_col("Age"), _age),
    ],
    ("", "events"): [
        (
            _col("Last Seen"),
            lambda e: human_age(
                e.get("lastTimestamp")
                or e.get("eventTime")
                or e["metadata"].get("creationTimestamp")
            ),
        ),
        (_col("Type"), lambda e: e.get("type", "")),
        (_col("Reason"), lambda e: e.get("reason", "")),
        (_col("Object"), _involved),
        (_col("Message"), lambda e: e.get("message") or e.get("note", "")),
    ],
    ("", "nodes"): [
        (_col("Status"), lambda n: "Ready"),
        (_col("Roles"), lambda n: "<none>"),
        (_col("Age"), _age),
        (
            _col("Version"),
            lambda n: (n.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", ""),
        ),
    ],
    ("coordination.k8s.io", "leases"): [
        (_col("Holder"), lambda o: (o.get("spec") or {}).get("holderIdentity", "")),
        (_col("Age"), _age),
    ],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [
        (_col("Created At", "date"), lambda o: o["metadata"].get("creationTimestamp")),
    ],
}


def _columns(rt: ResourceType) -> list[tuple[JSON, Cell]]:
    if rt.custom and rt.columns:
        out: list[tuple[JSON, Cell]] = []
        for c in rt.columns:
            definition = {
                "name": c["name"],
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description", ""),
                "priority": int(c.get("priority", 0)),
            }

            def cell(obj: JSON, path: str = c["jsonPath"], kind: str = definition["type"]) -> Any:
                value = jsonpath(obj, path)
                if value is None:
                    return None
                if kind == "date":
                    return human_age(str(value))
                if kind == "string" and not isinstance(value, str):
                    return str(value)
                return value

            out.append((definition, cell))
        return out
    if rt.key in _BUILTIN:
        return _BUILTIN[rt.key]
    return [(_col("Age"), _age)]


def partial_metadata(obj: JSON) -> JSON:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def to_table(
    rt: ResourceType,
    objects: list[JSON],
    resource_version: str,
    include_object: str = "Metadata",
    headers: bool = True,
) -> JSON:
    cols = list(_columns(rt))
    if rt.key == ("", "events"):  # the event printer shows the name only with -o wide
        cols.append(({**_NAME_COL, "priority": 1}, lambda e: e["metadata"]["name"]))
    else:
        cols.insert(0, (_NAME_COL, lambda o: o["metadata"]["name"]))
    rows = []
    for obj in objects:
        row: JSON = {"cells": [fn(obj) for _, fn in cols]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    table: JSON = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "rows": rows,
    }
    if headers:
        table["columnDefinitions"] = [d for d, _ in cols]
    else:
        table["columnDefinitions"] = None
    return table
