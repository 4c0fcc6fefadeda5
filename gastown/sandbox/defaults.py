"""Defaulting and validation of the built-in types, the parts clients can observe.

The real apiserver defaults many more fields; these are the ones our code and kubectl read
(pod restartPolicy, terminationMessagePath, grace period, imagePullPolicy; Secret stringData).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from gastown.sandbox.errors import invalid
from gastown.sandbox.resources import ResourceType

JSON = dict[str, Any]

_POD_MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def admit_builtin(rt: ResourceType, obj: JSON, name: str) -> None:
    if rt.group == "" and rt.plural == "pods":
        _pod(rt, obj, name)
    elif rt.group == "" and rt.plural == "secrets":
        _secret(rt, obj, name)
    elif rt.group == "" and rt.plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        status = obj.setdefault("status", {})
        if not obj["metadata"].get("deletionTimestamp"):
            status["phase"] = "Active"
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", name)
    elif rt.group == "" and rt.plural == "configmaps":
        data = obj.get("data") or {}
        if not all(isinstance(v, str) for v in data.values()):
            raise invalid(
                rt,
                name,
                [("data", "FieldValueTypeInvalid", "Invalid value: values must be strings")],
            )


def _secret(rt: ResourceType, obj: JSON, name: str) -> None:
    obj.setdefault("type", "Opaque")
    data = obj.get("data") or {}
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise invalid(
                rt,
                name,
                [(f"data[{key}]", "FieldValueInvalid", "Invalid value: illegal base64 data")],
            ) from None
    string_data = obj.pop("stringData", None) or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data


def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last or (":" in last and not last.endswith(":latest")):
        return "IfNotPresent"
    return "Always"


def _pod(rt: ResourceType, obj: JSON, name: str) -> None:
    spec = obj.setdefault("spec", {})
    causes: list[tuple[str, str, str]] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(("spec.containers", "FieldValueRequired", "Required value"))
    for field in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(field) or []):
            if not c.get("name"):
                causes.append((f"spec.{field}[{i}].name", "FieldValueRequired", "Required value"))
            if not c.get("image"):
                causes.append((f"spec.{field}[{i}].image", "FieldValueRequired", "Required value"))
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("imagePullPolicy", _image_pull_policy(str(c.get("image", ""))))
    if causes:
        raise invalid(rt, name, causes)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    obj.setdefault("status", {}).setdefault("phase", "Pending")
    obj["status"].setdefault("qosClass", "BestEffort")


def check_pod_update(rt: ResourceType, old: JSON, new: JSON) -> None:
    """Pod specs are immutable apart from images and a few fields, as in the apiserver."""
    old_spec = dict(old.get("spec") or {})
    new_spec = dict(new.get("spec") or {})
    for field in _POD_MUTABLE_SPEC:
        old_spec.pop(field, None)
        new_spec.pop(field, None)

    def strip_images(spec: JSON) -> JSON:
        out = dict(spec)
        for field in ("containers", "initContainers"):
            out[field] = [
                {k: v for k, v in c.items() if k != "image"} for c in spec.get(field) or []
            ]
        return out

    if strip_images(old_spec) != strip_images(new_spec):
        raise invalid(
            rt,
            new["metadata"]["name"],
            [
                (
                    "spec",
                    "FieldValueForbidden",
                    "Forbidden: pod updates may not change fields other than "
                    "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                    "`spec.activeDeadlineSeconds`,`spec.tolerations` "
                    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds`",
                )
            ],
        )
