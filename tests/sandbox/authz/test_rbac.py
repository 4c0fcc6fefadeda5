"""RBAC with the real kubectl: ServiceAccount tokens, Roles and bindings, upstream's messages."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import Cluster
from tests.sandbox.authz.conftest import Identity, create_token, forbidden, kubeconfig_for


def apply(cluster: Cluster, manifest: str) -> None:
    result = cluster.kubectl("apply", "-f", "-", stdin=textwrap.dedent(manifest))
    assert result.returncode == 0, result.stderr


def user(namespace: str, name: str = "bot") -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def test_a_service_account_token_authenticates_as_its_account(
    namespace: str, service_account: Identity
) -> None:
    bot = service_account(namespace, "bot")
    who = bot.kubectl("auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == user(namespace)
    assert info["groups"] == [
        "system:serviceaccounts",
        f"system:serviceaccounts:{namespace}",
        "system:authenticated",
    ]


def test_nothing_is_allowed_until_a_role_is_bound(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    bot = service_account(namespace, "bot")
    assert forbidden(bot.kubectl("get", "pods", "-n", namespace)) == (
        f'pods is forbidden: User "{user(namespace)}" cannot list resource "pods" in API group '
        f'"" in the namespace "{namespace}"'
    )
    assert forbidden(bot.kubectl("get", "namespaces")) == (
        f'namespaces is forbidden: User "{user(namespace)}" cannot list resource "namespaces" '
        'in API group "" at the cluster scope'
    )
    # Discovery and /version are every authenticated user's (system:discovery), /metrics not.
    assert bot.kubectl("get", "--raw", "/version").returncode == 0
    assert forbidden(bot.kubectl("get", "--raw", "/metrics")) == (
        f'forbidden: User "{user(namespace)}" cannot get path "/metrics"'
    )


def test_a_role_allows_exactly_its_verbs_and_resources(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    bot = service_account(namespace, "bot")
    apply(
        cluster,
        f"""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {{name: reader, namespace: {namespace}}}
        rules:
        - apiGroups: [""]
          resources: [configmaps]
          verbs: [get, list]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {{name: reader, namespace: {namespace}}}
        roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
        subjects:
        - {{kind: ServiceAccount, name: bot}}
        """,
    )
    assert cluster.kubectl("create", "configmap", "c", "-n", namespace).returncode == 0
    assert bot.kubectl("get", "configmaps", "-n", namespace).returncode == 0
    assert bot.kubectl("get", "configmap", "c", "-n", namespace).returncode == 0
    # list without watch: `get -w` is refused on the watch.
    watch = bot.kubectl("get", "configmaps", "-n", namespace, "-w", "--request-timeout=5s")
    assert forbidden(watch) == (
        f'configmaps is forbidden: User "{user(namespace)}" cannot watch resource "configmaps" '
        f'in API group "" in the namespace "{namespace}"'
    )
    assert forbidden(bot.kubectl("delete", "configmap", "c", "-n", namespace)) == (
        f'configmaps "c" is forbidden: User "{user(namespace)}" cannot delete resource '
        f'"configmaps" in API group "" in the namespace "{namespace}"'
    )
    assert forbidden(bot.kubectl("create", "configmap", "d", "-n", namespace)) == (
        f'configmaps is forbidden: User "{user(namespace)}" cannot create resource '
        f'"configmaps" in API group "" in the namespace "{namespace}"'
    )
    # Another namespace is out of the RoleBinding's reach.
    assert "cannot list resource" in forbidden(bot.kubectl("get", "configmaps", "-n", "default"))


def test_resource_names_allow_get_but_not_list_or_create(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    bot = service_account(namespace, "bot")
    assert (
        cluster.kubectl(
            "create",
            "role",
            "one",
            "-n",
            namespace,
            "--verb=get,list,create",
            "--resource=secrets",
            "--resource-name=mine",
        ).returncode
        == 0
    )
    assert (
        cluster.kubectl(
            "create",
            "rolebinding",
            "one",
            "-n",
            namespace,
            "--role=one",
            f"--serviceaccount={namespace}:bot",
        ).returncode
        == 0
    )
    for name in ("mine", "theirs"):
        made = cluster.kubectl("create", "secret", "generic", name, "-n", namespace)
        assert made.returncode == 0, made.stderr
    assert bot.kubectl("get", "secret", "mine", "-n", namespace).returncode == 0
    assert forbidden(bot.kubectl("get", "secret", "theirs", "-n", namespace)).startswith(
        f'secrets "theirs" is forbidden: User "{user(namespace)}" cannot get resource "secrets"'
    )
    assert "cannot list resource" in forbidden(bot.kubectl("get", "secrets", "-n", namespace))
    # A list narrowed to the one name by field selector is a request for that name.
    narrowed = bot.kubectl(
        "get", "secrets", "-n", namespace, "--field-selector=metadata.name=mine", "-o", "name"
    )
    assert narrowed.returncode == 0, narrowed.stderr
    assert narrowed.stdout.strip() == "secret/mine"
    assert "cannot create resource" in forbidden(
        bot.kubectl("create", "secret", "generic", "mine2", "-n", namespace)
    )


def test_subresources_are_separate_resources(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    service_account(namespace, "bot")
    apply(
        cluster,
        f"""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {{name: {namespace}-polecat-status}}
        rules:
        - apiGroups: [gastown.gastown.io]
          resources: [polecats/status]
          verbs: [patch]
        - apiGroups: [""]
          resources: ["*/log"]
          verbs: [get]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {{name: status, namespace: {namespace}}}
        roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,
                  name: {namespace}-polecat-status}}
        subjects:
        - {{kind: ServiceAccount, name: bot, namespace: {namespace}}}
        """,
    )
    as_bot = f"--as={user(namespace)}"

    def can(*args: str) -> bool:
        result = cluster.kubectl("auth", "can-i", *args, "-n", namespace, as_bot)
        return result.stdout.strip() == "yes"

    assert can("patch", "polecats.gastown.gastown.io", "--subresource=status")
    assert not can("patch", "polecats.gastown.gastown.io")
    assert not can("update", "polecats.gastown.gastown.io", "--subresource=status")
    assert not can("patch", "polecats.gastown.gastown.io", "--subresource=finalizers")
    assert can("get", "pods", "--subresource=log")
    assert not can("get", "pods")
    cluster.kubectl("delete", "clusterrole", f"{namespace}-polecat-status")


def test_cluster_roles_bindings_wildcards_and_aggregation(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    service_account(namespace, "bot")
    name = f"{namespace}-agg"
    apply(
        cluster,
        f"""
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {{name: {name}}}
        aggregationRule:
          clusterRoleSelectors:
          - matchLabels: {{aggregate-to: {name}}}
        rules: []
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata:
          name: {name}-part
          labels: {{aggregate-to: {name}}}
        rules:
        - apiGroups: ["*"]
          resources: [leases]
          verbs: ["*"]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {{name: {name}}}
        roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {name}}}
        subjects:
        - {{kind: ServiceAccount, name: bot, namespace: {namespace}}}
        """,
    )
    as_bot = f"--as={user(namespace)}"
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"):
        result = cluster.kubectl("auth", "can-i", verb, "leases.coordination.k8s.io", "-A", as_bot)
        assert result.stdout.strip() == "yes", (verb, result.stderr)
    assert cluster.kubectl("auth", "can-i", "get", "pods", "-A", as_bot).stdout.strip() == "no"
    # The SubjectAccessReview names the binding that allowed it.
    review = cluster.kubectl(
        "create",
        "-o",
        "json",
        "-f",
        "-",
        stdin=json.dumps(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": user(namespace),
                    "groups": ["system:serviceaccounts", "system:authenticated"],
                    "resourceAttributes": {
                        "verb": "delete",
                        "group": "coordination.k8s.io",
                        "resource": "leases",
                        "namespace": "default",
                    },
                },
            }
        ),
    )
    assert review.returncode == 0, review.stderr
    assert json.loads(review.stdout)["status"] == {
        "allowed": True,
        "reason": f'RBAC: allowed by ClusterRoleBinding "{name}" of ClusterRole "{name}" to '
        f'ServiceAccount "bot/{namespace}"',
    }
    for kind, obj in (
        ("clusterrolebinding", name),
        ("clusterrole", name),
        ("clusterrole", f"{name}-part"),
    ):
        cluster.kubectl("delete", kind, obj)


def test_a_binding_to_a_missing_role_says_so(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    bot = service_account(namespace, "bot")
    made = cluster.kubectl(
        "create",
        "rolebinding",
        "dangling",
        "-n",
        namespace,
        "--clusterrole=does-not-exist",
        f"--serviceaccount={namespace}:bot",
    )
    assert made.returncode == 0, made.stderr
    assert forbidden(bot.kubectl("get", "pods", "-n", namespace)).endswith(
        'in the namespace "' + namespace + '": RBAC: clusterrole.rbac.authorization.k8s.io '
        '"does-not-exist" not found'
    )


def test_impersonation_is_an_admin_power(
    cluster: Cluster, namespace: str, service_account: Identity
) -> None:
    bot = service_account(namespace, "bot")
    result = bot.kubectl("get", "pods", "-n", namespace, "--as=kubernetes-admin")
    assert forbidden(result) == (
        f'users "kubernetes-admin" is forbidden: User "{user(namespace)}" cannot impersonate '
        'resource "users" in API group "" at the cluster scope'
    )
    # An admin impersonating the account sees exactly its rights.
    no = cluster.kubectl("get", "pods", "-n", namespace, f"--as={user(namespace)}")
    assert "cannot list resource" in forbidden(no)


def test_unknown_and_orphaned_tokens_are_unauthorized(
    cluster: Cluster, namespace: str, service_account: Identity, tmp_path: Path
) -> None:
    service_account(namespace, "gone")
    token = create_token(cluster, namespace, "gone")
    path = kubeconfig_for(cluster.kubeconfig, token, tmp_path / "kc")
    orphan = Cluster(path, cluster.sandbox)
    assert orphan.kubectl("auth", "whoami").returncode == 0
    assert cluster.kubectl("delete", "serviceaccount", "gone", "-n", namespace).returncode == 0
    result = orphan.kubectl("get", "pods", "-n", namespace)
    assert result.returncode == 1
    assert "You must be logged in to the server (Unauthorized)" in result.stderr
    bogus = kubeconfig_for(cluster.kubeconfig, "not-a-token", tmp_path / "bogus")
    result = Cluster(bogus, cluster.sandbox).kubectl("get", "pods")
    assert "You must be logged in to the server (Unauthorized)" in result.stderr
