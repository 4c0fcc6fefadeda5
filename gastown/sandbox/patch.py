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
