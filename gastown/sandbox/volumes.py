"""Pod volumes and container configuration resolved against the store, as the kubelet does.

Volumes become directories under the pod's directory; a missing Secret/ConfigMap (or key) is
a `ConfigError` carrying the kubelet's reason and message, so the pod shows
CreateContainerConfigError (env) or stays ContainerCreating with a FailedMount event (volumes).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from gastown.sandbox.expand import expand
from gastown.sandbox.store import Store

JSON = dict[str, Any]


class ConfigError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _lookup(store: Store, kind: str, namespace: str, name: str) -> JSON | None:
    plural = "secrets" if kind == "Secret" else "configmaps"
    rt = store.registry.by_key(("", plural))
    assert rt is not None
    return store.find(rt, namespace, name)


def _data(kind: str, obj: JSON) -> dict[str, bytes]:
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def _source(
    store: Store, kind: str, namespace: str, name: str, optional: bool
) -> dict[str, bytes] | None:
    obj = _lookup(store, kind, namespace, name)
    if obj is None:
        if optional:
            return None
        noun = "secret" if kind == "Secret" else "configmap"
        raise ConfigError("CreateContainerConfigError", f'{noun} "{name}" not found')
    return _data(kind, obj)


def _write_items(
    target: Path,
    data: dict[str, bytes],
    *,
    items: list[JSON] | None,
    mode: int,
    kind: str,
    namespace: str,
    name: str,
    gid: int | None,
) -> None:
    selected: list[tuple[str, str, int]] = []
    if items:
        for item in items:
            if item["key"] not in data:
                raise ConfigError(
                    "CreateContainerConfigError",
                    f"couldn't find key {item['key']} in {kind} {namespace}/{name}",
                )
            selected.append((item["key"], item["path"], int(item.get("mode", mode))))
    else:
        selected = [(k, k, mode) for k in data]
    for key, rel, file_mode in selected:
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[key])
        if gid is not None and os.geteuid() == 0:
            os.chown(path, 0, gid)
            # fsGroup: the group gets what the owner has, as the kubelet's ownership change does
            group_bits = (file_mode & 0o700) >> 3 if file_mode & 0o070 == 0 else 0
            path.chmod(file_mode | group_bits)
        else:
            path.chmod(file_mode)


def materialise(store: Store, pod: JSON, pod_dir: Path) -> dict[str, Path]:
    """Create every volume of `pod` under `pod_dir/volumes`; name -> host directory."""
    namespace = pod["metadata"]["namespace"]
    fs_group = (pod["spec"].get("securityContext") or {}).get("fsGroup")
    out: dict[str, Path] = {}
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        target = pod_dir / "volumes" / name
        if "hostPath" in vol:
            out[name] = Path(vol["hostPath"]["path"])
            continue
        if "emptyDir" in vol:
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)  # as the kubelet creates emptyDirs
            if fs_group is not None and os.geteuid() == 0:
                # fsGroup: the volume's group, setgid so new files keep it (the kubelet's
                # SetVolumeOwnership)
                os.chown(target, 0, int(fs_group))
                target.chmod(0o2777)
            out[name] = target
            continue
        staging = pod_dir / "volumes" / f".{name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        sources: list[tuple[str, JSON]] = []
        default_mode = 0o644
        if "secret" in vol:
            sources = [("Secret", {**vol["secret"], "name": vol["secret"].get("secretName")})]
            default_mode = int(vol["secret"].get("defaultMode", 0o644))
        elif "configMap" in vol:
            sources = [("ConfigMap", vol["configMap"])]
            default_mode = int(vol["configMap"].get("defaultMode", 0o644))
        elif "projected" in vol:
            default_mode = int(vol["projected"].get("defaultMode", 0o644))
            for src in vol["projected"].get("sources") or []:
                if "secret" in src:
                    sources.append(("Secret", src["secret"]))
                elif "configMap" in src:
                    sources.append(("ConfigMap", src["configMap"]))
                elif "downwardAPI" in src:
                    _downward(pod, src["downwardAPI"], staging)
        elif "downwardAPI" in vol:
            _downward(pod, vol["downwardAPI"], staging)
        for kind, src in sources:
            data = _source(store, kind, namespace, src["name"], bool(src.get("optional")))
            if data is None:
                continue
            try:
                _write_items(
                    staging,
                    data,
                    items=src.get("items"),
                    mode=default_mode,
                    kind=kind,
                    namespace=namespace,
                    name=src["name"],
                    gid=fs_group,
                )
            except ConfigError as exc:
                raise ConfigError("FailedMount", exc.message) from None
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        with contextlib.suppress(OSError):
            target.chmod(0o755)
        out[name] = target
    return out


def _downward(pod: JSON, spec: JSON, target: Path) -> None:
    for item in spec.get("items") or []:
        ref = (item.get("fieldRef") or {}).get("fieldPath", "")
        path = target / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(field_ref(pod, ref))


def field_ref(pod: JSON, path: str) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", "127.0.0.1"),
        "status.hostIP": status.get("hostIP", "127.0.0.1"),
    }
    if path in simple:
        return str(simple[path])
    for field in ("labels", "annotations"):
        prefix = f"metadata.{field}['"
        if path.startswith(prefix) and path.endswith("']"):
            return str((meta.get(field) or {}).get(path[len(prefix) : -2], ""))
        if path == f"metadata.{field}":
            return "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get(field) or {}).items()))
    return ""


def container_env(store: Store, pod: JSON, container: JSON) -> dict[str, str]:
    """envFrom then env, in order, with $(VAR) expansion against what is defined so far."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            if key in src:
                ref = src[key]
                data = _source(store, kind, namespace, ref["name"], bool(ref.get("optional")))
                for k, v in (data or {}).items():
                    env[prefix + k] = v.decode(errors="replace")
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var:
            env[name] = expand(str(var["value"]), env)
            continue
        source = var.get("valueFrom") or {}
        if not source:
            env[name] = ""
            continue
        for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            if key in source:
                ref = source[key]
                optional = bool(ref.get("optional"))
                data = _source(store, kind, namespace, ref["name"], optional)
                if data is None:
                    break
                if ref["key"] not in data:
                    if optional:
                        break
                    raise ConfigError(
                        "CreateContainerConfigError",
                        f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}",
                    )
                env[name] = data[ref["key"]].decode(errors="replace")
        if "fieldRef" in source:
            env[name] = field_ref(pod, source["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in source:
            res = source["resourceFieldRef"]["resource"]
            kind_, _, what = res.partition(".")
            env[name] = str(((container.get("resources") or {}).get(kind_) or {}).get(what, "0"))
    return env
