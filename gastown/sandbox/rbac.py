"""The RBAC authoriser: Roles, ClusterRoles and their bindings, evaluated as upstream does.

A port of plugin/pkg/auth/authorizer/rbac: ClusterRoleBindings are visited first, then the
RoleBindings of the request's namespace; a rule allows a request when its verbs, API groups,
resources (`resource/subresource`, `*`, `*/subresource`) and resourceNames match (for
non-resource requests: verbs and nonResourceURLs, `*` suffixes). `system:masters` is allowed
everything before RBAC is asked, as the apiserver's privileged-group authoriser does. Denials
carry upstream's message shape; SubjectAccessReviews get upstream's reasons.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gastown.sandbox.authn import MASTERS, UserInfo, split_service_account
from gastown.sandbox.errors import ApiError

JSON = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
ROLES = (GROUP, "roles")
CLUSTER_ROLES = (GROUP, "clusterroles")
ROLE_BINDINGS = (GROUP, "rolebindings")
CLUSTER_ROLE_BINDINGS = (GROUP, "clusterrolebindings")

# (group, plural) -> {(namespace, name): object}; the store's buckets.
Objects = Callable[[tuple[str, str]], dict[tuple[str, str], JSON]]


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: who does what to which resource (or non-resource path)."""

    user: UserInfo
    verb: str
    resource_request: bool = True
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


# ---------------------------------------------------------------------- rule matching
def _verb_matches(rule: JSON, verb: str) -> bool:
    return any(v in ("*", verb) for v in rule.get("verbs") or ())


def _group_matches(rule: JSON, group: str) -> bool:
    return any(g in ("*", group) for g in rule.get("apiGroups") or ())


def _resource_matches(rule: JSON, combined: str, subresource: str) -> bool:
    for r in rule.get("resources") or ():
        if r in ("*", combined):
            return True
        if subresource and len(r) == len(subresource) + 2 and r == f"*/{subresource}":
            return True
    return False


def _name_matches(rule: JSON, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def _url_matches(rule: JSON, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or ():
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: JSON) -> bool:
    if attrs.resource_request:
        return (
            _verb_matches(rule, attrs.verb)
            and _group_matches(rule, attrs.api_group)
            and _resource_matches(rule, attrs.combined_resource, attrs.subresource)
            and _name_matches(rule, attrs.name)
        )
    return _verb_matches(rule, attrs.verb) and _url_matches(rule, attrs.path)


# ---------------------------------------------------------------------- subjects
def _applies(user: UserInfo, subject: JSON, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_ns = subject.get("namespace") or namespace
        return bool(sa_ns) and split_service_account(user.name) == (sa_ns, name)
    return False


def _describe_subject(subject: JSON, binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


def _label_selector_matches(selector: JSON, labels: dict[str, str]) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or ()
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass(frozen=True)
class Decision:
    """One authorisation decision for a user outside system:masters (the audit trail)."""

    attrs: Attributes
    allowed: bool
    reason: str
    rule: JSON | None = None  # the rule that allowed it


class Authorizer:
    """Decides requests from the RBAC objects in the store (read on every decision)."""

    def __init__(self, objects: Objects, audit_size: int = 20_000) -> None:
        self._objects = objects
        # Decisions about everyone but system:masters, newest last: what tests read to see
        # which call needed which rule (an apiserver's audit log, in memory).
        self.audit: deque[Decision] = deque(maxlen=audit_size)

    # ------------------------------------------------------------------ roles
    def cluster_role_rules(self, role: JSON) -> list[JSON]:
        """A ClusterRole's rules; aggregated ones are the union of the roles they select."""
        aggregation = role.get("aggregationRule")
        if not isinstance(aggregation, dict):
            return list(role.get("rules") or ())
        selectors = aggregation.get("clusterRoleSelectors") or ()
        rules: list[JSON] = []
        for (_, name), other in sorted(self._objects(CLUSTER_ROLES).items()):
            if name == role["metadata"]["name"]:
                continue
            labels = other["metadata"].get("labels") or {}
            if any(_label_selector_matches(s, labels) for s in selectors):
                for rule in other.get("rules") or ():
                    if rule not in rules:
                        rules.append(rule)
        return rules

    def _role_rules(self, ref: JSON, namespace: str) -> tuple[list[JSON], str | None]:
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            role = self._objects(CLUSTER_ROLES).get(("", name))
            if role is None:
                return [], f'clusterrole.{GROUP} "{name}" not found'
            return self.cluster_role_rules(role), None
        if kind == "Role":
            role = self._objects(ROLES).get((namespace, name))
            if role is None:
                return [], f'role.{GROUP} "{name}" not found'
            return list(role.get("rules") or ()), None
        return [], f'unsupported role reference kind: "{kind}"'

    def visit(
        self, user: UserInfo, namespace: str
    ) -> Iterator[tuple[str, JSON | None, str | None]]:
        """(source description, rule, error) for every rule that applies to the user."""
        for (_, name), binding in sorted(self._objects(CLUSTER_ROLE_BINDINGS).items()):
            subject = next(
                (s for s in binding.get("subjects") or () if _applies(user, s, "")), None
            )
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            rules, err = self._role_rules(ref, "")
            source = (
                f'ClusterRoleBinding "{name}" of {ref.get("kind")} "{ref.get("name")}" to '
                f"{_describe_subject(subject, '')}"
            )
            if err:
                yield source, None, err
            for rule in rules:
                yield source, rule, None
        if not namespace:
            return
        for (ns, name), binding in sorted(self._objects(ROLE_BINDINGS).items()):
            if ns != namespace:
                continue
            subject = next(
                (s for s in binding.get("subjects") or () if _applies(user, s, namespace)), None
            )
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            rules, err = self._role_rules(ref, namespace)
            source = (
                f'RoleBinding "{name}/{namespace}" of {ref.get("kind")} "{ref.get("name")}" to '
                f"{_describe_subject(subject, namespace)}"
            )
            if err:
                yield source, None, err
            for rule in rules:
                yield source, rule, None

    # ------------------------------------------------------------------ decisions
    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason): reason as upstream's RBAC authoriser words it."""
        if MASTERS in attrs.user.groups:
            return True, ""
        errors: list[str] = []
        for source, rule, err in self.visit(attrs.user, attrs.namespace):
            if rule is not None and rule_allows(attrs, rule):
                reason = f"RBAC: allowed by {source}"
                self.audit.append(Decision(attrs, True, reason, rule))
                return True, reason
            if err is not None:
                errors.append(err)
        reason = ""
        if errors:
            reason = "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
        self.audit.append(Decision(attrs, False, reason))
        return False, reason

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[JSON], list[str]]:
        """SelfSubjectRulesReview: resource and non-resource rules, and evaluation errors."""
        if MASTERS in user.groups:
            return [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ], []
        rules: list[JSON] = []
        errors: list[str] = []
        for _, rule, err in self.visit(user, namespace):
            if rule is not None and rule not in rules:
                rules.append(rule)
            if err is not None:
                errors.append(err)
        return rules, errors


def forbidden(attrs: Attributes, reason: str) -> ApiError:
    """responsewriters.Forbidden: `<resource> "<name>" is forbidden: User "u" cannot ...`."""
    user = attrs.user.name
    if not attrs.resource_request:
        msg = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    elif attrs.namespace:
        msg = (
            f'User "{user}" cannot {attrs.verb} resource "{attrs.combined_resource}" in API '
            f'group "{attrs.api_group}" in the namespace "{attrs.namespace}"'
        )
    else:
        msg = (
            f'User "{user}" cannot {attrs.verb} resource "{attrs.combined_resource}" in API '
            f'group "{attrs.api_group}" at the cluster scope'
        )
    if reason:
        msg = f"{msg}: {reason}"
    return forbidden_error(attrs.api_group, attrs.resource, attrs.name, msg)


def forbidden_error(group: str, resource: str, name: str, message: str) -> ApiError:
    """apierrors.NewForbidden(groupResource, name, err)."""
    qualified = f"{resource}.{group}" if group else resource
    if not qualified:
        text = f"forbidden: {message}"
    elif not name:
        text = f"{qualified} is forbidden: {message}"
    else:
        text = f'{qualified} "{name}" is forbidden: {message}'
    details: JSON = {"name": name, "kind": resource} if name else {"kind": resource}
    if group:
        details["group"] = group
    if not resource:
        details = {}
    return ApiError(403, "Forbidden", text, details or None)


# ---------------------------------------------------------------------- bootstrap policy
_BOOTSTRAP_META: JSON = {
    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
}


def _meta(name: str) -> JSON:
    return {"name": name, **{k: dict(v) for k, v in _BOOTSTRAP_META.items()}}


def bootstrap_cluster_roles() -> list[JSON]:
    """The default ClusterRoles a real cluster starts with that the sandbox's users need."""
    public_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    return [
        {
            "metadata": _meta("cluster-admin"),
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        },
        {
            "metadata": _meta("system:discovery"),
            "rules": [
                {
                    "nonResourceURLs": [
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ],
                    "verbs": ["get"],
                }
            ],
        },
        {
            "metadata": _meta("system:basic-user"),
            "rules": [
                {
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    "verbs": ["create"],
                },
                {
                    "apiGroups": ["authentication.k8s.io"],
                    "resources": ["selfsubjectreviews"],
                    "verbs": ["create"],
                },
            ],
        },
        {
            "metadata": _meta("system:public-info-viewer"),
            "rules": [{"nonResourceURLs": public_urls, "verbs": ["get"]}],
        },
    ]


def _group(name: str) -> JSON:
    return {"apiGroup": GROUP, "kind": "Group", "name": name}


def bootstrap_cluster_role_bindings() -> list[JSON]:
    return [
        {
            "metadata": _meta(name),
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [_group(g) for g in groups],
        }
        for name, groups in (
            ("cluster-admin", (MASTERS,)),
            ("system:discovery", ("system:authenticated",)),
            ("system:basic-user", ("system:authenticated",)),
            ("system:public-info-viewer", ("system:authenticated", "system:unauthenticated")),
        )
    ]


def access_review_status(allowed: bool, reason: str) -> JSON:
    status: JSON = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return status
