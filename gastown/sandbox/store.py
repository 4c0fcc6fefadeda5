"""The sandbox's etcd + registry: objects, resourceVersions, history, admission and GC.

Everything here runs on the server's event loop thread, so there are no locks: a write is
atomic with respect to every reader. One global counter supplies resourceVersions (as etcd's
revision does); a bounded history of events lets watches resume from a version and makes
older versions answer 410 Gone, as a compacted etcd does.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from gastown.sandbox import cel, clock, defaults, eventsv1
from gastown.sandbox.errors import (
    already_exists,
    bad_request,
    conflict,
    forbidden,
    gone,
    invalid,
    not_found,
)
from gastown.sandbox.resources import Registry, ResourceType, from_crd
from gastown.sandbox.schema import SchemaValidator
from gastown.sandbox.selectors import parse_field_selector, parse_label_selector
from gastown.sandbox.watch import Event, Watcher

JSON = dict[str, Any]
ObjKey = tuple[tuple[str, str], str, str]  # (group, plural), namespace ("" if cluster), name

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY = ("", "namespaces")
POD_KEY = ("", "pods")

PodDeleter = Callable[[JSON], bool]


class AdmissionHook(Protocol):
    """Admission plugins (gastown.sandbox.admission.chain): op is CREATE or UPDATE."""

    def mutate(
        self, op: str, rt: ResourceType, obj: JSON, old: JSON | None, subresource: str | None
    ) -> None: ...

    def validate(
        self, op: str, rt: ResourceType, obj: JSON, old: JSON | None, subresource: str | None
    ) -> None: ...


def _meta(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


class Store:
    """Objects by resource, namespace and name, with a global resourceVersion."""

    def __init__(self, registry: Registry | None = None, history: int = 10_000) -> None:
        self.registry = registry or Registry()
        self.rv = 0
        self._objects: dict[tuple[str, str], dict[tuple[str, str], JSON]] = {}
        self._history: deque[Event] = deque(maxlen=history)
        self._evicted_upto = 0
        self._watchers: dict[tuple[str, str], set[Watcher]] = {}
        self._validators: dict[tuple[str, str, str], SchemaValidator] = {}
        # Indexes for garbage collection: uid -> object, owner uid -> dependents.
        self._by_uid: dict[str, ObjKey] = {}
        self._owned: dict[str, set[ObjKey]] = {}
        self._ns_count: dict[str, int] = {}  # namespaced objects per namespace
        self._random = random.Random()  # noqa: S311 - generateName suffixes, as the apiserver
        # The kubelet claims graceful pod deletion: it returns True when it will finish it.
        self.pod_deleter: PodDeleter | None = None
        # Admission plugins and event listeners (controllers such as quota status), set by the
        # assembly; None/empty: a bare store admits on schema alone.
        self.admission: AdmissionHook | None = None
        self.listeners: list[Callable[[Event], None]] = []
        self._cel: dict[tuple[str, str, str], bool] = {}
        # CRD validation rules (CEL) are evaluated, as from Kubernetes 1.25; a test may turn
        # them off to reach what a client does on a cluster that does not (defence in depth).
        self.validation_rules = True
        for ns in SYSTEM_NAMESPACES:
            self.create(self._rt(NS_KEY), None, {"metadata": {"name": ns}})

    # ------------------------------------------------------------------ helpers
    def _rt(self, key: tuple[str, str]) -> ResourceType:
        rt = self.registry.by_key(key)
        assert rt is not None
        return rt

    def _bucket(self, key: tuple[str, str]) -> dict[tuple[str, str], JSON]:
        return self._objects.setdefault(key, {})

    def _put(self, key: tuple[str, str], obj: JSON, old: JSON | None = None) -> None:
        meta = obj["metadata"]
        ref: ObjKey = (key, meta.get("namespace", ""), meta["name"])
        bucket = self._bucket(key)
        if ref[1] and (ref[1], ref[2]) not in bucket:
            self._ns_count[ref[1]] = self._ns_count.get(ref[1], 0) + 1
        bucket[(ref[1], ref[2])] = obj
        self._by_uid[meta["uid"]] = ref
        if old is not None:
            for r in old["metadata"].get("ownerReferences") or ():
                self._owned.get(r.get("uid", ""), set()).discard(ref)
        for r in meta.get("ownerReferences") or ():
            self._owned.setdefault(r.get("uid", ""), set()).add(ref)

    def _drop(self, key: tuple[str, str], obj: JSON) -> None:
        meta = obj["metadata"]
        ref: ObjKey = (key, meta.get("namespace", ""), meta["name"])
        if self._bucket(key).pop((ref[1], ref[2]), None) is not None and ref[1]:
            self._ns_count[ref[1]] -= 1
        self._by_uid.pop(meta["uid"], None)
        for r in meta.get("ownerReferences") or ():
            self._owned.get(r.get("uid", ""), set()).discard(ref)

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._evicted_upto = self._history[0].rv
        self._history.append(event)
        for watcher in list(self._watchers.get(event.key, ())):
            watcher.offer(event)
        for listener in self.listeners:
            listener(event)

    def objects(self, key: tuple[str, str]) -> dict[tuple[str, str], JSON]:
        """Every stored object of a (group, plural) by (namespace, name); do not mutate."""
        return self._bucket(key)

    @staticmethod
    def present(rt: ResourceType, obj: JSON) -> JSON:
        """The object as served through `rt`'s version (a shallow copy when it differs)."""
        if obj.get("apiVersion") == rt.api_version and obj.get("kind") == rt.kind:
            return obj
        if rt.group == eventsv1.GROUP:
            return eventsv1.to_v1(obj)
        return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}

    def _ns(self, rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "") if rt.namespaced else ""

    # ------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> JSON:
        obj = self._bucket(rt.key).get((self._ns(rt, namespace), name))
        if obj is None:
            raise not_found(rt, name)
        return obj

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> JSON | None:
        return self._bucket(rt.key).get((self._ns(rt, namespace), name))

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> tuple[list[JSON], int, str | None]:
        """Matching objects in key order, the list's resourceVersion and a continue token."""
        if rt.group == eventsv1.GROUP:
            field_selector = eventsv1.field_selector(field_selector)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        start: tuple[str, str] | None = None
        if continue_token:
            try:
                raw = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                start = (raw["ns"], raw["name"])
            except (ValueError, KeyError, binascii.Error) as exc:
                raise bad_request("continue key is not valid") from exc
        bucket = self._bucket(rt.key)
        out: list[JSON] = []
        next_token: str | None = None
        for key in sorted(bucket):
            if namespace and rt.namespaced and key[0] != namespace:
                continue
            if start is not None and key <= start:
                continue
            obj = bucket[key]
            if not labels(obj.get("metadata", {}).get("labels") or {}) or not fields(obj):
                continue
            if limit and len(out) >= limit:
                last = out[-1]["metadata"]
                token = {"ns": last.get("namespace", ""), "name": last["name"]}
                next_token = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
                break
            out.append(obj)
        return out, self.rv, next_token

    # ------------------------------------------------------------------ watch
    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        resource_version: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Watcher:
        """Subscribe; the queue first holds the replay (synthetic ADDEDs or history)."""
        if rt.group == eventsv1.GROUP:
            field_selector = eventsv1.field_selector(field_selector)
            rt = self._rt(rt.key)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)

        def match(obj: Any) -> bool:
            return bool(labels(obj.get("metadata", {}).get("labels") or {}) and fields(obj))

        ns = namespace if rt.namespaced and namespace else None
        watcher = Watcher(rt.key, ns, match)
        if resource_version in (None, "", "0"):
            items, _, _ = self.list(rt, ns, label_selector, field_selector)
            for obj in sorted(items, key=lambda o: int(o["metadata"]["resourceVersion"])):
                watcher.queue.put_nowait(("ADDED", obj))
        else:
            try:
                since = int(resource_version)
            except ValueError as exc:
                raise bad_request(f"invalid resource version {resource_version!r}") from exc
            if since < self._evicted_upto:
                raise gone(f"too old resource version: {since} ({self._evicted_upto + 1})")
            for event in self._history:
                if event.rv > since and event.key == rt.key:
                    watcher.offer(event)
        self._watchers.setdefault(rt.key, set()).add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.key, set()).discard(watcher)

    def close_all_watches(self, include_internal: bool = False) -> None:
        """End client watch streams (an apiserver restart as clients see it)."""
        for watchers in self._watchers.values():
            for w in list(watchers):
                if include_internal or not w.internal:
                    w.close()

    def expire_history(self) -> None:
        """Compact: every version before now becomes 410 Gone for watches (a test hook)."""
        self._evicted_upto = self.rv
        self._history.clear()

    # ------------------------------------------------------------------ admission
    def _validator(self, rt: ResourceType) -> SchemaValidator | None:
        if not rt.schema:
            return None
        key = (rt.group, rt.version, rt.plural)
        v = self._validators.get(key)
        if v is None:
            v = self._validators[key] = SchemaValidator(rt.schema)
        return v

    def _admit(self, rt: ResourceType, obj: JSON, strict: bool, old: JSON | None = None) -> None:
        name = _meta(obj).get("name") or _meta(obj).get("generateName") or ""
        self._validate_meta(rt, obj, name)
        if rt.custom:
            validator = self._validator(rt)
            if validator is not None:
                pruned, causes = validator.admit(obj)
                if strict and pruned:
                    joined = ", ".join(f'unknown field "{p}"' for p in pruned)
                    raise bad_request(f"strict decoding error: {joined}")
                if self.validation_rules and rt.schema is not None and self._has_cel(rt):
                    causes = causes + cel.validate(rt.schema, obj, old)
                if causes:
                    raise invalid(rt, name, causes)
        else:
            defaults.admit_builtin(rt, obj, name)

    def _has_cel(self, rt: ResourceType) -> bool:
        key = (rt.group, rt.version, rt.plural)
        if key not in self._cel:
            self._cel[key] = cel.has_rules(rt.schema)
        return self._cel[key]

    def _validate_meta(self, rt: ResourceType, obj: JSON, name: str) -> None:
        meta = _meta(obj)
        real = meta.get("name", "")
        if rt.group == "rbac.authorization.k8s.io":
            # RBAC names are path segments (`system:discovery`): ValidatePathSegmentName.
            if real in (".", "..") or any(c in real for c in "/%"):
                raise invalid(
                    rt,
                    name,
                    [
                        (
                            "metadata.name",
                            "FieldValueInvalid",
                            f"Invalid value: \"{real}\": may not contain '/' or '%'",
                        )
                    ],
                )
            real = ""
        pattern, what = (
            (_LABEL, "RFC 1123 label") if rt.key == NS_KEY else (_SUBDOMAIN, "RFC 1123 subdomain")
        )
        if real and (not pattern.fullmatch(real) or len(real) > 253):
            raise invalid(
                rt,
                name,
                [
                    (
                        "metadata.name",
                        "FieldValueInvalid",
                        f'Invalid value: "{real}": a lowercase {what} must consist of lower case '
                        "alphanumeric characters, '-' or '.', and must start and end with an "
                        "alphanumeric character",
                    )
                ],
            )
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is not None and (
                not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
            ):
                raise invalid(
                    rt,
                    name,
                    [
                        (
                            f"metadata.{field}",
                            "FieldValueTypeInvalid",
                            "Invalid value: must be a map of string to string",
                        )
                    ],
                )

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns = self._bucket(NS_KEY).get(("", namespace))
        if ns is None:
            raise not_found(self._rt(NS_KEY), namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise forbidden(
                f'{rt.qualified} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated"
            )

    @staticmethod
    def _spec_part(rt: ResourceType, obj: JSON) -> JSON:
        skip = {"metadata", "status"} if rt.status_subresource else {"metadata"}
        return {k: v for k, v in obj.items() if k not in skip and k not in ("apiVersion", "kind")}

    # ------------------------------------------------------------------ writes
    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: JSON,
        strict: bool = False,
        dry_run: bool = False,
    ) -> JSON:
        if rt.group == eventsv1.GROUP:
            body, rt = eventsv1.from_v1(body), self._rt(rt.key)
        obj = copy.deepcopy(body)
        meta = _meta(obj)
        ns = self._ns(rt, namespace or meta.get("namespace"))
        if rt.namespaced:
            if not ns:
                raise bad_request("the namespace of the object must be set")
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(
                    rt,
                    "",
                    [
                        (
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            suffix = "".join(self._random.choice(_GEN_CHARS) for _ in range(5))
            meta["name"] = f"{meta['generateName']}{suffix}"
        name = meta["name"]
        if rt.namespaced:
            self._check_namespace(rt, ns, name)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        if rt.status_subresource and rt.custom:
            obj.pop("status", None)
        for field in (
            "resourceVersion",
            "uid",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "creationTimestamp",
            "generation",
            "selfLink",
        ):
            meta.pop(field, None)
        if self.admission is not None:
            self.admission.mutate("CREATE", rt, obj, None, None)
        self._admit(rt, obj, strict)
        if self.admission is not None:
            self.admission.validate("CREATE", rt, obj, None, None)
        bucket = self._bucket(rt.key)
        if (ns, name) in bucket:
            raise already_exists(rt, name)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = clock.rfc3339()
        if rt.has_generation:
            meta["generation"] = 1
        if rt.key == CRD_KEY:
            self._crd_admit(obj)
        if dry_run:
            meta["resourceVersion"] = str(self.rv)
            return obj
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self._put(rt.key, obj)
        self._emit(Event(rv, rt.key, "ADDED", obj))
        self._after_create(rt, obj)
        return obj

    def _after_create(self, rt: ResourceType, obj: JSON) -> None:
        if rt.key == CRD_KEY:
            for k in [k for k in self._cel if k[0] == obj["spec"]["group"]]:
                del self._cel[k]
            for t in from_crd(obj):
                self.registry.add(t)
        elif rt.key == NS_KEY:
            sa = self.registry.by_key(("", "serviceaccounts"))
            if sa is not None:
                self.create(sa, obj["metadata"]["name"], {"metadata": {"name": "default"}})

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: JSON,
        subresource: str | None = None,
        *,
        strict: bool = False,
        require_rv: bool | None = None,
        dry_run: bool = False,
    ) -> JSON:
        """PUT semantics: optimistic concurrency, immutable metadata, status subresource."""
        if rt.group == eventsv1.GROUP:
            body, rt = eventsv1.from_v1(body), self._rt(rt.key)
        current = self.get(rt, namespace, name)
        new = copy.deepcopy(body)
        meta = _meta(new)
        if meta.get("name") and meta["name"] != name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        given_rv = meta.get("resourceVersion")
        if require_rv is None:
            require_rv = rt.custom
        if given_rv:
            if str(given_rv) != current["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
        elif require_rv:
            raise invalid(
                rt,
                name,
                [
                    (
                        "metadata.resourceVersion",
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(current)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        else:
            if rt.status_subresource:
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
            for field in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
            ):
                if field in current["metadata"]:
                    meta[field] = current["metadata"][field]
                else:
                    meta.pop(field, None)
            meta["name"] = name
            if current["metadata"].get("deletionTimestamp"):
                # Finalizers may be removed but not added while deleting.
                added = set(meta.get("finalizers") or ()) - set(
                    current["metadata"].get("finalizers") or ()
                )
                if added:
                    raise invalid(
                        rt,
                        name,
                        [
                            (
                                "metadata.finalizers",
                                "FieldValueForbidden",
                                "Forbidden: no new finalizers can be added if the "
                                "object is being deleted",
                            )
                        ],
                    )
        new["apiVersion"] = rt.api_version
        new["kind"] = rt.kind
        meta.pop("resourceVersion", None)
        if self.admission is not None:
            self.admission.mutate("UPDATE", rt, new, current, subresource)
        self._admit(rt, new, strict, current)
        if rt.key == POD_KEY and subresource is None:
            defaults.check_pod_update(rt, current, new)
        if self.admission is not None:
            self.admission.validate("UPDATE", rt, new, current, subresource)
        if rt.has_generation:
            old_spec = self._spec_part(rt, current)
            if self._spec_part(rt, new) != old_spec:
                meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        comparable = {
            **current,
            "metadata": {k: v for k, v in current["metadata"].items() if k != "resourceVersion"},
        }
        if new == comparable:
            return current  # a no-op write: no new version, no watch event
        if dry_run:
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
            return new
        return self._replace(rt, current, new)

    def _replace(self, rt: ResourceType, current: JSON, new: JSON) -> JSON:
        meta = new["metadata"]
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self._put(rt.key, new, current)
        self._emit(Event(rv, rt.key, "MODIFIED", new, current))
        if rt.key == CRD_KEY:
            self.registry.remove_crd(meta["name"])
            for t in from_crd(new):
                self.registry.add(t)
            for k in [k for k in self._validators if k[0] == new["spec"]["group"]]:
                del self._validators[k]
            for k in [k for k in self._cel if k[0] == new["spec"]["group"]]:
                del self._cel[k]
        # Namespaces go when their content has gone (_namespace_maybe_done); pods when the
        # kubelet has stopped them (grace period 0); everything else when finalizers are done.
        releasable = meta.get("deletionTimestamp") and not meta.get("finalizers")
        if rt.key == NS_KEY:
            releasable = False
        if releasable and (rt.key != POD_KEY or meta.get("deletionGracePeriodSeconds") == 0):
            return self._remove(rt, new)
        return new

    def write_status(self, rt: ResourceType, obj: JSON, status: JSON) -> JSON:
        """In-process status write (the kubelet's): no concurrency check, skips no-ops."""
        current = self.find(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if current is None or current["metadata"]["uid"] != obj["metadata"]["uid"]:
            return obj
        if current.get("status") == status:
            return current
        new = {**current, "metadata": dict(current["metadata"]), "status": copy.deepcopy(status)}
        return self._replace(rt, current, new)

    def bind(self, rt: ResourceType, current: JSON, new: JSON) -> JSON:
        """The scheduler's binding: sets spec.nodeName, bypassing pod spec immutability."""
        return self._replace(rt, current, new)

    def write_meta(self, rt: ResourceType, obj: JSON, **changes: Any) -> JSON:
        """In-process metadata write (controllers' bookkeeping): bumps the version."""
        new = copy.deepcopy(obj)
        new["metadata"].update(changes)
        for k in [k for k, v in changes.items() if v is None]:
            del new["metadata"][k]
        return self._replace(rt, obj, new)

    # ------------------------------------------------------------------ delete
    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: JSON | None = None,
        dry_run: bool = False,
    ) -> JSON:
        options = options or {}
        current = self.get(rt, namespace, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != current["metadata"]["uid"]:
            raise conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {current['metadata']['uid']}",
            )
        if pre.get("resourceVersion") and (
            pre["resourceVersion"] != current["metadata"]["resourceVersion"]
        ):
            raise conflict(rt, name)
        if dry_run:
            return current
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents"):
            policy = "Orphan"
        if policy == "Orphan":
            self._orphan(current)
        meta = current["metadata"]
        if rt.key == NS_KEY:
            if name in ("default", "kube-system", "kube-public"):
                raise forbidden(
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted'
                )
            return self._delete_namespace(rt, current)
        if rt.key == POD_KEY and self.pod_deleter is not None:
            grace = options.get("gracePeriodSeconds")
            if grace is None:
                grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            grace = int(grace)
            if meta.get("deletionTimestamp") and grace >= int(
                meta.get("deletionGracePeriodSeconds") or 0
            ):
                return current
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = meta.get("deletionTimestamp") or clock.rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            if grace > 0 and self.pod_deleter(new):
                return self._replace(rt, current, new)
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            return self._replace(rt, current, new)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return current
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = clock.rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            return self._replace(rt, current, new)
        return self._remove(rt, current)

    def finish_pod_deletion(self, pod: JSON) -> None:
        """The kubelet has stopped the pod's containers: the object may go now."""
        rt = self._rt(POD_KEY)
        current = self.find(rt, pod["metadata"]["namespace"], pod["metadata"]["name"])
        if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
            return
        new = copy.deepcopy(current)
        new["metadata"]["deletionTimestamp"] = (
            new["metadata"].get("deletionTimestamp") or clock.rfc3339()
        )
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        self._replace(rt, current, new)

    def _remove(self, rt: ResourceType, current: JSON) -> JSON:
        meta = current["metadata"]
        ns = meta.get("namespace", "")
        self._drop(rt.key, current)
        rv = self._next_rv()
        gone_obj = {**current, "metadata": {**meta, "resourceVersion": str(rv)}}
        self._emit(Event(rv, rt.key, "DELETED", gone_obj))
        if rt.key == CRD_KEY:
            self._drop_crd_objects(current)
        self._collect_dependents(meta["uid"], ns, rt.namespaced)
        if ns:
            self._namespace_maybe_done(ns)
        return gone_obj

    def _delete_namespace(self, rt: ResourceType, current: JSON) -> JSON:
        name = current["metadata"]["name"]
        if not current["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = clock.rfc3339()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            current = self._replace(rt, current, new)
            for key, bucket in list(self._objects.items()):
                t = self.registry.by_key(key)
                if t is None or not t.namespaced:
                    continue
                for (ns, obj_name), obj in sorted(bucket.items()):
                    if ns == name and not obj["metadata"].get("deletionTimestamp"):
                        self.delete(t, ns, obj_name)
        self._namespace_maybe_done(name)
        return current

    def _namespace_maybe_done(self, name: str) -> None:
        ns = self._bucket(NS_KEY).get(("", name))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        if self._ns_count.get(name, 0) > 0:
            return
        self._remove(self._rt(NS_KEY), ns)

    def _orphan(self, owner: JSON) -> None:
        uid = owner["metadata"]["uid"]
        for key, obj in self._dependents(uid):
            rt = self.registry.by_key(key)
            if rt is None:
                continue
            refs = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("uid") != uid]
            self.write_meta(rt, obj, ownerReferences=refs or None)

    def _dependents(self, uid: str) -> Iterable[tuple[tuple[str, str], JSON]]:
        for key, ns, name in sorted(self._owned.get(uid, ())):
            obj = self._objects.get(key, {}).get((ns, name))
            refs = (obj or {}).get("metadata", {}).get("ownerReferences") or ()
            if obj is not None and any(r.get("uid") == uid for r in refs):
                yield key, obj

    def _uid_exists(self, uid: str) -> bool:
        return uid in self._by_uid

    def _collect_dependents(self, uid: str, namespace: str, owner_namespaced: bool) -> None:
        """Background cascading deletion: dependents whose owners are all gone go too."""
        for key, obj in list(self._dependents(uid)):
            rt = self.registry.by_key(key)
            meta = obj["metadata"]
            if rt is None or meta.get("deletionTimestamp"):
                continue
            if owner_namespaced and meta.get("namespace", "") != namespace:
                continue
            others = [r for r in meta.get("ownerReferences", []) if r.get("uid") != uid]
            if any(self._uid_exists(r["uid"]) for r in others if r.get("uid")):
                continue
            current = self.find(rt, meta.get("namespace"), meta["name"])
            if current is not None:
                self.delete(rt, meta.get("namespace"), meta["name"])

    # ------------------------------------------------------------------ CRDs
    def _crd_admit(self, crd: JSON) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group", "")
        plural = names.get("plural", "")
        expected = f"{plural}.{group}"
        name = crd["metadata"]["name"]
        if name != expected:
            raise invalid(
                self._rt(CRD_KEY),
                name,
                [
                    (
                        "metadata.name",
                        "FieldValueInvalid",
                        f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                    )
                ],
            )
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "reason": r,
                    "message": m,
                    "lastTransitionTime": clock.rfc3339(),
                }
                for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
        }

    def _drop_crd_objects(self, crd: JSON) -> None:
        spec = crd["spec"]
        key = (spec["group"], spec["names"]["plural"])
        rt = self.registry.by_key(key)
        if rt is not None:
            for obj in list(self._bucket(key).values()):
                self._drop(key, obj)
                rv = self._next_rv()
                self._emit(Event(rv, key, "DELETED", obj))
        self.registry.remove_crd(crd["metadata"]["name"])
        self._objects.pop(key, None)

    # ------------------------------------------------------------------ secrets
    @staticmethod
    def decode_secret(secret: JSON) -> dict[str, bytes]:
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
