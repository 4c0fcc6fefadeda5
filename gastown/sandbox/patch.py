"""The patch formats kubectl and controllers send: JSON merge, JSON patch, strategic merge.

Strategic merge patch is implemented for the built-in types we serve (pods, secrets,
configmaps, ...) with the merge keys their Go structs declare; custom resources reject it with
415, exactly like the apiserver, so kubectl falls back to a merge patch for them.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from gastown.sandbox.errors import ApiError

JSON = dict[str, Any]

# Field name -> merge key, from the `patchMergeKey` tags of the core/v1 and meta/v1 types.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "env": "name",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "secrets": "name",
    "resourceClaims": "name",
}
# Primitive lists whose patchStrategy is "merge" (set union) rather than replace.
MERGED_PRIMITIVE_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: JSON, ops: Any) -> JSON:
    """RFC 6902 JSON patch; a failing op is the client's fault (422), not the server's."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    try:
        result = jsonpatch.apply_patch(target, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request: {exc}") from exc
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "json patch must produce an object")
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch (the subset kubectl apply/patch emit for built-in types)."""
    return _smp_map(target if isinstance(target, dict) else {}, patch)


def _smp_map(target: JSON, patch: JSON) -> JSON | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            existing = result.get(key)
            sub = _smp_map(existing if isinstance(existing, dict) else {}, value)
            if sub is None:
                result.pop(key, None)
            else:
                result[key] = sub
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value)
        else:
            result[key] = value
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current_list = list(current) if isinstance(current, list) else []
    if field in MERGED_PRIMITIVE_LISTS:
        merged = list(current_list)
        for item in patch:
            if item not in merged:
                merged.append(item)
        return merged
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(x, dict) for x in patch):
        return [x for x in copy.deepcopy(patch) if not (isinstance(x, dict) and "$patch" in x)]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if "$patch" not in x]
    result = copy.deepcopy(current_list)
    for item in patch:
        index = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append({k: v for k, v in copy.deepcopy(item).items() if k != "$patch"})
        else:
            merged_item = _smp_map(result[index], item)
            if merged_item is None:
                del result[index]
            else:
                result[index] = merged_item
    return result


# ---------------------------------------------------------------------- server-side apply
# `application/apply-patch+yaml`, as `kubectl apply --server-side` sends it. What is real: each
# field manager's applied fields are recorded in metadata.managedFields (operation Apply,
# FieldsV1 with `f:` keys); applying again removes the fields that manager applied before and
# no longer does (unless another manager also applied them); a field another manager applied
# with a different value is a 409 naming the field and the manager, unless `force=true`
# (`--force-conflicts`), which takes it over. Simplified: lists are atomic (one field, as
# `x-kubernetes-list-type: atomic`; the apiserver merges associative lists such as containers
# by key); only Apply operations own fields (a PUT or a merge patch owns nothing here, so it
# never conflicts with an apply); no per-version field-set conversion.

Path = tuple[str, ...]
# Identity, not content: never owned, never removed.
_UNOWNED: frozenset[Path] = frozenset(
    {
        ("apiVersion",),
        ("kind",),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("metadata", "uid"),
        ("metadata", "resourceVersion"),
        ("metadata", "managedFields"),
        ("metadata", "creationTimestamp"),
        ("metadata", "generation"),
    }
)


def field_paths(obj: Any, prefix: Path = ()) -> set[Path]:
    """The leaf fields an applied configuration sets: maps recurse (an empty one sets
    nothing), lists are atomic."""
    if not isinstance(obj, dict):
        return {prefix} if prefix else set()
    out: set[Path] = set()
    for key, value in obj.items():
        path = (*prefix, str(key))
        if path in _UNOWNED or value is None:
            continue
        out |= field_paths(value, path)
    return out


def fields_v1(paths: set[Path]) -> JSON:
    """Paths as the apiserver's FieldsV1 (`{"f:spec": {"f:replicas": {}}}`)."""
    root: JSON = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def paths_of(fields: Any, prefix: Path = ()) -> set[Path]:
    """FieldsV1 back to paths (a key with no `f:` children is a leaf)."""
    children = {k: v for k, v in (fields or {}).items() if k.startswith("f:")}
    if not children:
        return {prefix} if prefix else set()
    out: set[Path] = set()
    for key, value in children.items():
        out |= paths_of(value, (*prefix, key[2:]))
    return out


def _get(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _remove(obj: JSON, path: Path) -> None:
    """Delete a field and any map it leaves empty on the way up."""
    parents = [obj]
    for part in path[:-1]:
        nxt = parents[-1].get(part)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        if parents[depth] == {}:
            parents[depth - 1].pop(path[depth - 1], None)


def _overlap(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _merge_applied(target: Any, applied: Any) -> Any:
    if not (isinstance(target, dict) and isinstance(applied, dict)):
        return copy.deepcopy(applied)
    out = copy.deepcopy(target)
    for key, value in applied.items():
        if value is None:
            continue
        out[key] = _merge_applied(out.get(key), value)
    return out


def _dotted(path: Path) -> str:
    return "." + ".".join(path)


def server_side_apply(
    current: JSON | None, applied: JSON, manager: str, *, force: bool, now: str
) -> JSON:
    """The object after `manager` applies `applied` to `current` (None: it does not exist)."""
    if not manager:
        raise ApiError(400, "BadRequest", "fieldManager is required for apply requests")
    applied = copy.deepcopy(applied)
    (applied.get("metadata") or {}).pop("managedFields", None)
    live: JSON = copy.deepcopy(current) if current is not None else {}
    entries = [dict(e) for e in (live.get("metadata") or {}).get("managedFields") or []]
    new = field_paths(applied)
    mine = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"),
        None,
    )
    old = paths_of(mine.get("fieldsV1")) if mine else set()
    others = {id(e): paths_of(e.get("fieldsV1")) for e in entries if e is not mine}
    conflicts = []
    taken: dict[int, set[Path]] = {}  # per other entry: its fields in conflict
    for entry in entries:
        if entry is mine:
            continue
        for theirs in sorted(others[id(entry)]):
            for path in new:
                if _overlap(theirs, path) and _get(live, path) != _get(applied, path):
                    conflicts.append((str(entry.get("manager")), _dotted(path)))
                    taken.setdefault(id(entry), set()).add(theirs)
    if conflicts and not force:
        found = sorted(set(conflicts))
        causes = "\n".join(f'- conflict with "{who}": {where}' for who, where in found)
        raise ApiError(
            409,
            "Conflict",
            f"Apply failed with {len(found)} conflict{'s' if len(found) > 1 else ''}: {causes}",
            {
                "causes": [
                    {
                        "reason": "FieldManagerConflict",
                        "message": f'conflict with "{who}"',
                        "field": where,
                    }
                    for who, where in found
                ]
            },
        )
    # Fields this manager applied before and no longer does go, unless another one owns them.
    owned_elsewhere = set().union(*others.values()) if others else set()
    for path in old - new:
        if not any(_overlap(path, other) for other in owned_elsewhere):
            _remove(live, path)
    result: JSON = _merge_applied(live, applied)
    kept = []
    for entry in entries:
        if entry is mine:
            continue
        # Forced: the fields in conflict are this manager's alone now; shared ones stay shared.
        remaining = others[id(entry)] - taken.get(id(entry), set())
        if remaining != others[id(entry)]:
            entry["fieldsV1"] = fields_v1(remaining)
        if remaining:
            kept.append(entry)
    kept.append(
        {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": applied.get("apiVersion") or live.get("apiVersion"),
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(new),
        }
    )
    result.setdefault("metadata", {})["managedFields"] = kept
    return result
