"""The sandbox's admission chain, run by the store on every create and update.

Mutating first (LimitRanger defaults), then, after the object has been validated, the
validating plugins in the apiserver's order: LimitRanger, OwnerReferencesPermissionEnforcement,
PodSecurity, ResourceQuota. Who is asking comes from the request (`REQUEST_USER`); writes the
sandbox makes itself (kubelet, garbage collector) have no request and are the system's.
Warnings (PodSecurity's `warn` mode) are collected per request for the `Warning` header.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from gastown.sandbox.admission import podsecurity, quota
from gastown.sandbox.authn import SYSTEM, UserInfo
from gastown.sandbox.errors import ApiError
from gastown.sandbox.rbac import Attributes, Authorizer, forbidden_error

if TYPE_CHECKING:
    from gastown.sandbox.resources import ResourceType
    from gastown.sandbox.store import Store

JSON = dict[str, Any]

REQUEST_USER: contextvars.ContextVar[UserInfo | None] = contextvars.ContextVar(
    "sandbox_request_user", default=None
)
WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "sandbox_warnings", default=None
)
POD = ("", "pods")
NAMESPACE = ("", "namespaces")
QUOTA = ("", "resourcequotas")
LIMIT_RANGE = ("", "limitranges")


def warn(message: str) -> None:
    sink = WARNINGS.get()
    if sink is not None and message not in sink:
        sink.append(message)


def _forbidden(rt: ResourceType, obj: JSON, message: str) -> ApiError:
    """admission.NewForbidden: `<resource> "<name>" is forbidden: <message>`."""
    return forbidden_error(rt.group, rt.plural, obj["metadata"].get("name", ""), message)


def _aggregate(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


class Admission:
    """The plugins, over the store they read (namespaces, quotas, ranges, owners)."""

    def __init__(self, store: Store, authorizer: Authorizer) -> None:
        self.store = store
        self.authorizer = authorizer

    def _user(self) -> UserInfo:
        return REQUEST_USER.get() or SYSTEM

    def _in_namespace(self, key: tuple[str, str], namespace: str) -> list[JSON]:
        return [o for (ns, _), o in sorted(self.store.objects(key).items()) if ns == namespace]

    # ------------------------------------------------------------------ mutating
    def mutate(
        self, op: str, rt: ResourceType, obj: JSON, old: JSON | None, subresource: str | None
    ) -> None:
        if rt.key == LIMIT_RANGE and subresource is None:
            quota.default_limit_range(obj)
        if rt.key == POD and op == "CREATE" and subresource is None:
            ranges = self._in_namespace(LIMIT_RANGE, obj["metadata"].get("namespace", ""))
            if ranges:
                quota.apply_limit_range_defaults(obj, ranges)

    # ------------------------------------------------------------------ validating
    def validate(
        self, op: str, rt: ResourceType, obj: JSON, old: JSON | None, subresource: str | None
    ) -> None:
        namespace = obj["metadata"].get("namespace", "")
        if rt.key == POD and op == "CREATE" and subresource is None:
            ranges = self._in_namespace(LIMIT_RANGE, namespace)
            errors = quota.limit_range_errors(obj, ranges) if ranges else []
            if errors:
                raise _forbidden(rt, obj, _aggregate(errors))
        self._owner_references(op, rt, obj, old, subresource)
        if rt.key == POD and subresource in (None, "ephemeralcontainers"):
            self._pod_security(op, rt, obj, old)
        if rt.key == POD and op == "CREATE" and subresource is None:
            self._quota(rt, obj)

    def _pod_security(self, op: str, rt: ResourceType, obj: JSON, old: JSON | None) -> None:
        if op == "UPDATE" and old is not None and not podsecurity.significant_update(old, obj):
            return
        ns = self.store.objects(NAMESPACE).get(("", obj["metadata"].get("namespace", "")))
        labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
        decision = podsecurity.evaluate(obj, labels)
        if decision.denied:
            raise _forbidden(rt, obj, decision.denied)
        for message in decision.warnings:
            warn(message)

    def _owner_references(
        self, op: str, rt: ResourceType, obj: JSON, old: JSON | None, subresource: str | None
    ) -> None:
        """OwnerReferencesPermissionEnforcement (pods/status is whitelisted upstream)."""
        if rt.key == POD and subresource == "status":
            return
        refs = obj["metadata"].get("ownerReferences") or []
        old_refs = ((old or {}).get("metadata") or {}).get("ownerReferences") or []
        if refs == old_refs:
            return
        user = self._user()
        namespace = obj["metadata"].get("namespace", "")
        name = obj["metadata"].get("name", "")
        if op != "CREATE":
            allowed, reason = self.authorizer.authorize(
                Attributes(
                    user,
                    "delete",
                    namespace=namespace,
                    api_group=rt.group,
                    api_version=rt.version,
                    resource=rt.plural,
                    subresource=subresource or "",
                    name=name,
                )
            )
            if not allowed:
                raise _forbidden(
                    rt,
                    obj,
                    f"cannot set an ownerRef on a resource you can't delete: {reason}, <nil>",
                )
        old_blocking = {r.get("uid") for r in old_refs if r.get("blockOwnerDeletion")}
        for ref in refs:
            if not ref.get("blockOwnerDeletion") or ref.get("uid") in old_blocking:
                continue
            group = ref.get("apiVersion", "").rpartition("/")[0]
            owner_types = [
                t
                for t in self.store.registry.all()
                if t.group == group and t.kind == ref.get("kind")
            ]
            if not owner_types:
                raise _forbidden(
                    rt,
                    obj,
                    "cannot set blockOwnerDeletion in this case because cannot find RESTMapping "
                    f"for APIVersion {ref.get('apiVersion')} Kind {ref.get('kind')}: no matches "
                    f'for kind "{ref.get("kind")}" in version "{ref.get("apiVersion")}"',
                )
            owner = owner_types[0]
            allowed, reason = self.authorizer.authorize(
                Attributes(
                    user,
                    "update",
                    namespace=namespace if owner.namespaced else "",
                    api_group=owner.group,
                    api_version=owner.version,
                    resource=owner.plural,
                    subresource="finalizers",
                    name=ref.get("name", ""),
                )
            )
            if not allowed:
                raise _forbidden(
                    rt,
                    obj,
                    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you "
                    f"can't set finalizers on: {reason}, <nil>",
                )

    def _quota(self, rt: ResourceType, obj: JSON) -> None:
        namespace = obj["metadata"].get("namespace", "")
        quotas = self._in_namespace(QUOTA, namespace)
        if not quotas:
            return
        pods = self._in_namespace(POD, namespace)
        for q in quotas:
            hard = (q.get("spec") or {}).get("hard") or {}
            error = quota.quota_error(obj, q, quota.namespace_usage(pods, hard))
            if error:
                raise _forbidden(rt, obj, error)

    # ------------------------------------------------------------------ quota status
    def refresh_quota_status(self, namespace: str) -> None:
        """The quota controller's job: status.hard and status.used from the pods there now."""
        quotas = self._in_namespace(QUOTA, namespace)
        if not quotas:
            return
        pods = self._in_namespace(POD, namespace)
        rt = self.store.registry.by_key(QUOTA)
        assert rt is not None
        for q in quotas:
            hard = (q.get("spec") or {}).get("hard") or {}
            status = {
                "hard": dict(hard),
                "used": quota.status_used(quota.namespace_usage(pods, hard)),
            }
            self.store.write_status(rt, q, status)
