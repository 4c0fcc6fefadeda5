"""The chart as Helm renders it, for each value set: lint, Kubernetes schemas, and what each
set must change (namespaced RBAC, no fixed UIDs on OpenShift, Temporal Cloud's key and
certificates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from gastown.activities.podspec import build_pod
from gastown.sandbox.selectors import parse_label_selector
from tests.activities.test_podspec import request
from tests.charts.rendering import (
    CHART,
    CLUSTER_WIDE,
    KUBE_VERSIONS,
    NAMESPACE,
    ROOT,
    VALUE_SETS,
    args,
    find,
    pod_templates,
    render,
)

SETS = sorted(VALUE_SETS)
# Kinds of other projects' CRDs: no Kubernetes schema to validate against.
NOT_KUBERNETES = {"monitoring.coreos.com/v1"}


@pytest.fixture(scope="module", params=SETS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(VALUE_SETS[request.param])


@pytest.mark.parametrize("name", SETS)
def test_lints_clean_in_strict_mode(name: str) -> None:
    report = helm.lint(
        CHART, VALUE_SETS[name], strict=True, namespace=NAMESPACE, kube_version="v1.32.0"
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(
    rendered: tuple[str, list[dict[str, Any]]], version: str
) -> None:
    _, objects = rendered
    problems = []
    for obj in objects:
        if obj["apiVersion"] in NOT_KUBERNETES:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']} {obj['metadata']['name']}: {exc.message}")
    assert problems == []


def test_only_the_prometheus_operators_kinds_are_not_kubernetes_kinds() -> None:
    kinds = {(o["apiVersion"], o["kind"]) for o in render(VALUE_SETS["everything"])}
    assert {k for k in kinds if k[0] in NOT_KUBERNETES} == {
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    }


def test_dashboard_configmap_and_prometheus_rule_carry_deploy_observability() -> None:
    """The chart's copies (files/) are deploy/observability's, byte for byte, and reach the
    objects unchanged (the alerts' own {{ $labels }} templates are not Helm's)."""
    observability = ROOT / "deploy" / "observability"
    for name in ("gastown-dashboard.json", "gastown-alerts.yaml"):
        assert (CHART / "files" / name).read_bytes() == (observability / name).read_bytes()
    assert not any(
        o["kind"] in ("ConfigMap", "PrometheusRule") for o in render(CLUSTER_WIDE)
    )  # off
    objects = render(VALUE_SETS["everything"])
    dashboard = find(objects, "ConfigMap", "gastown-operator-dashboard", NAMESPACE)
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shown = json.loads(dashboard["data"]["gastown-dashboard.json"])
    assert shown == json.loads((observability / "gastown-dashboard.json").read_text())
    rule = find(objects, "PrometheusRule", "gastown-operator", NAMESPACE)
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert rule["spec"] == yaml.safe_load((observability / "gastown-alerts.yaml").read_text())


def test_schema_refuses_unknown_and_wrong_values() -> None:
    with helm.Chart.load(CHART) as chart:
        for bad, where in (
            ({"worker": {"replica": 2}}, "replica"),
            ({"temporal": {"address": "no-port"}}, "address"),
            ({"watchNamespaces": ["Team_A"]}, "watchNamespaces"),
            ({"networkPolicy": {"polecat": {"gitPorts": [0]}}}, "gitPorts"),
        ):
            with pytest.raises(helm.HelmValuesError, match=where):
                chart.validate_schema(bad)


def test_defaults_cluster_wide_worker_and_two_electing_watchers() -> None:
    objects = render(CLUSTER_WIDE)
    worker = args(objects, "gastown-operator-worker")
    assert worker[:2] == ["gastown-operator", "worker"]
    assert "--image=ghcr.io/gastown/polecat-agent:0.1.0" in worker
    assert "--register-search-attributes" in worker
    assert "--health-port=8081" in worker
    assert "--metrics-bind-address=0.0.0.0:9090" in worker
    assert not [a for a in worker if a.startswith(("--serve-namespace", "--pod-service-account"))]
    watcher = find(objects, "Deployment", "gastown-operator-watcher", NAMESPACE)
    assert watcher["spec"]["replicas"] == 2
    assert "--leader-election" in args(objects, "gastown-operator-watcher")
    for dep in ("gastown-operator-worker", "gastown-operator-watcher"):
        pod = find(objects, "Deployment", dep, NAMESPACE)["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == "ghcr.io/gastown/gastown-operator:0.1.0"
        assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert pod["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["containers"][0]["resources"]["requests"]
    # One PDB, for the watcher (2 replicas), never blocking a drain.
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert [(p["metadata"]["name"], p["spec"]) for p in pdbs] == [
        (
            "gastown-operator-watcher",
            {
                "maxUnavailable": 1,
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
                "selector": pdbs[0]["spec"]["selector"],
            },
        )
    ]
    assert not [
        o
        for o in objects
        if o["kind"] in ("Role", "RoleBinding")
        and o["metadata"]["name"] != "gastown-operator-watcher-lease"
    ]


def _rules(objects: list[dict[str, Any]], kind: str, name: str, ns: str | None) -> list[Any]:
    return list(find(objects, kind, name, ns)["rules"])


def test_namespaced_install_grants_roles_per_namespace_and_rigs_cluster_wide() -> None:
    objects = render(VALUE_SETS["namespaced"])
    cluster_roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}
    assert set(cluster_roles) == {"gastown-operator-worker-rigs", "gastown-operator-watcher-rigs"}
    for role in cluster_roles.values():
        assert {r for rule in role["rules"] for r in rule["resources"]} <= {"rigs", "rigs/status"}
    default = render(CLUSTER_WIDE)
    for ns in ("team-a", "team-b"):
        for component in ("worker", "watcher"):
            name = f"gastown-operator-{component}"
            namespaced = _rules(objects, "Role", name, ns)
            everything = _rules(default, "ClusterRole", name, None)
            # The same rules as the cluster-wide install, less the cluster-scoped Rigs.
            assert namespaced == [r for r in everything if not r["resources"][0].startswith("rigs")]
            binding = find(objects, "RoleBinding", name, ns)
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}
            ]
        assert _rules(objects, "Role", "gastown-operator-worker-secrets", ns)[0]["verbs"] == [
            "create",
            "update",
            "delete",
        ]
        find(objects, "ServiceAccount", "gastown-polecat", ns)
        find(objects, "NetworkPolicy", "gastown-operator-polecats", ns)
    for component in ("worker", "watcher"):
        flags = args(objects, f"gastown-operator-{component}")
        assert "--serve-namespace=team-a" in flags
        assert "--serve-namespace=team-b" in flags
    worker = args(objects, "gastown-operator-worker")
    assert "--pod-service-account=gastown-polecat" in worker


def test_secret_writes_can_be_switched_off() -> None:
    objects = render({**CLUSTER_WIDE, "credentials": {"secretWrites": {"enabled": False}}})
    assert not [o for o in objects if "secrets" in o["metadata"]["name"]]
    granted = {
        v
        for o in objects
        if o["kind"] in ("ClusterRole", "Role")
        for r in o["rules"]
        if "secrets" in r["resources"]
        for v in r["verbs"]
    }
    assert granted == {"get", "list", "watch"}


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def test_openshift_sets_no_user_group_or_fsgroup_number_anywhere() -> None:
    objects = render(VALUE_SETS["openshift"])
    fixed = [
        (o["kind"], o["metadata"]["name"], key)
        for o in objects
        for key, _ in _walk(o)
        if key in ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups")
    ]
    assert fixed == []
    # The defaults do set them, so the check above is not vacuous.
    assert any(key == "runAsUser" for o in render(CLUSTER_WIDE) for key, _ in _walk(o))
    dns = find(objects, "NetworkPolicy", "gastown-operator-worker", NAMESPACE)["spec"]["egress"][0]
    assert {"port": 5353, "protocol": "UDP"} in dns["ports"]
    ns = find(objects, "Namespace", NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_temporal_cloud_reads_the_api_key_and_certificates_from_mounted_secrets() -> None:
    objects = render(VALUE_SETS["temporal-cloud"])
    for component in ("worker", "watcher"):
        name = f"gastown-operator-{component}"
        flags = args(objects, name)
        assert "--temporal-address=gastown.a1b2c.tmprl.cloud:7233" in flags
        assert "--temporal-namespace=gastown.a1b2c" in flags
        assert "--temporal-api-key-file=/etc/gastown/temporal-api-key/api-key" in flags
        assert "--temporal-tls-cert=/etc/gastown/temporal-tls/tls.crt" in flags
        assert "--temporal-tls-key=/etc/gastown/temporal-tls/tls.key" in flags
        assert "--temporal-tls-ca=/etc/gastown/temporal-tls/ca.crt" in flags
        pod = find(objects, "Deployment", name, NAMESPACE)["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert secrets == {
            "temporal-tls": "temporal-cloud-mtls",
            "temporal-api-key": "temporal-cloud-api-key",
        }
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["temporal-tls"] == "/etc/gastown/temporal-tls"
        assert mounts["temporal-api-key"] == "/etc/gastown/temporal-api-key"
    # Cloud refuses the registration to workers: registered once in the Cloud UI or tcld.
    assert "--register-search-attributes" not in args(objects, "gastown-operator-worker")


def test_everything_on_dev_server_pdbs_polecat_account_servicemonitor() -> None:
    objects = render(VALUE_SETS["everything"])
    address = "--temporal-address=gastown-operator-temporal-dev.gastown-system.svc:7233"
    assert address in args(objects, "gastown-operator-worker")
    dev = find(objects, "Deployment", "gastown-operator-temporal-dev", NAMESPACE)
    assert "not-for-production" in str(dev["metadata"]["annotations"])
    assert {p["metadata"]["name"] for p in objects if p["kind"] == "PodDisruptionBudget"} == {
        "gastown-operator-worker",
        "gastown-operator-watcher",
    }
    polecat_sa = find(objects, "ServiceAccount", "gastown-polecat", "agents")
    assert polecat_sa["automountServiceAccountToken"] is False
    assert "--pod-service-account=gastown-polecat" in args(objects, "gastown-operator-worker")
    monitor = find(objects, "ServiceMonitor", "gastown-operator-worker", NAMESPACE)
    assert monitor["metadata"]["labels"]["release"] == "prom"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op = expr["operator"]
        if op == "Exists":
            terms.append(expr["key"])
        elif op == "DoesNotExist":
            terms.append(f"!{expr['key']}")
        else:
            terms.append(f"{expr['key']} {op.lower()} ({','.join(expr['values'])})")
    return parse_label_selector(",".join(terms))(labels)


def test_network_policies_select_the_pods_they_are_for() -> None:
    objects = render(VALUE_SETS["everything"])
    pods = {name: pod["metadata"]["labels"] for name, pod in pod_templates(objects)}
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}
    for component in ("worker", "watcher", "temporal-dev"):
        selector = policies[f"gastown-operator-{component}"]["spec"]["podSelector"]
        selected = {name for name, labels in pods.items() if _selects(selector, labels)}
        assert selected == {f"gastown-operator-{component}"}
    # The polecat policy selects a pod exactly as the worker builds it, and none of ours.
    polecat = policies["gastown-operator-polecats"]
    assert polecat["metadata"]["namespace"] == "agents"
    selector = polecat["spec"]["podSelector"]
    assert _selects(selector, build_pod(request())["metadata"]["labels"])
    assert not [name for name, labels in pods.items() if _selects(selector, labels)]
    assert polecat["spec"]["ingress"] == []
    egress_ports = [{p["port"] for p in rule["ports"]} for rule in polecat["spec"]["egress"]]
    assert egress_ports == [{53}, {22, 443}, {443}]
    blocked = polecat["spec"]["egress"][1]["to"][0]["ipBlock"]["except"]
    assert "169.254.0.0/16" in blocked


@pytest.mark.parametrize("name", SETS)
def test_the_processes_accept_every_flag_the_chart_passes(name: str) -> None:
    """Parsed by the real `gastown-operator` command line (nothing runs): an unknown flag or a
    bad value fails here, not in a CrashLoopBackOff."""
    import typer

    from gastown.cli.operator_main import app

    group: Any = typer.main.get_command(app)
    objects = render(VALUE_SETS[name])
    for component in ("worker", "watcher"):
        program, command, *flags = args(objects, f"gastown-operator-{component}")
        assert (program, command) == ("gastown-operator", component)
        sub = group.commands[command]
        ctx = sub.make_context(command, list(flags))
        if component == "worker":
            assert ctx.params["register_search_attributes"] is (name != "temporal-cloud")
            assert ctx.params["health_port"] == 8081
        else:
            assert ctx.params["leader_election"] is True
        served = ctx.params["serve_namespaces" if component == "worker" else "watch_namespaces"]
        expected = VALUE_SETS[name].get("watchNamespaces", [])
        if component == "worker" and not expected:
            # Cluster-wide, the worker serves only where the polecat account exists.
            expected = VALUE_SETS[name].get("polecatNamespaces", [])
        assert sorted(served or []) == sorted(expected)


def test_the_codec_key_secret_is_mounted_into_both_processes() -> None:
    objects = render({**CLUSTER_WIDE, "codec": {"keySecret": "gastown-codec-key"}})
    for name in ("gastown-operator-worker", "gastown-operator-watcher"):
        assert "--codec-key-file=/etc/gastown/codec/keys.json" in args(objects, name)
        pod = find(objects, "Deployment", name, NAMESPACE)["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "codec-key"]
        assert volume["secret"]["secretName"] == "gastown-codec-key"
        assert volume["secret"]["items"] == [{"key": "keys.json", "path": "keys.json"}]
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "codec-key"]
        assert (mount["mountPath"], mount["readOnly"]) == ("/etc/gastown/codec", True)
    # Off by default: no flag, no volume.
    plain = render(CLUSTER_WIDE)
    assert not any("--codec-key-file" in f for f in args(plain, "gastown-operator-worker"))
    assert "codec-key" not in str(plain)


def test_the_codec_server_runs_with_the_key_its_origins_and_token() -> None:
    values = {
        **CLUSTER_WIDE,
        "codec": {
            "keySecret": "gastown-codec-key",
            "server": {
                "enabled": True,
                "uiOrigins": ["https://temporal-ui.example.com"],
                "namespaces": ["prod"],
                "authTokenSecret": "codec-token",
            },
        },
    }
    objects = render(values)
    name = "gastown-operator-codec-server"
    flags = args(objects, name)
    assert flags[:2] == ["gastown-operator", "codec-server"]
    for flag in (
        "--codec-key-file=/etc/gastown/codec/keys.json",
        "--bind-address=0.0.0.0:8081",
        "--ui-origin=https://temporal-ui.example.com",
        "--namespace=prod",
        "--auth-token-file=/etc/gastown/codec-auth/token",
        # The limits (docs/codec.md), the defaults rendered as integers a flag accepts.
        "--max-body-bytes=4194304",
        "--max-payloads=1000",
        "--max-connections=32",
        "--max-header-bytes=16384",
        "--request-timeout=30",
    ):
        assert flag in flags
    pod = find(objects, "Deployment", name, NAMESPACE)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"]}
    assert secrets == {"codec-key": "gastown-codec-key", "codec-auth": "codec-token"}
    service = find(objects, "Service", name, NAMESPACE)
    assert service["spec"]["ports"][0]["port"] == 8081
    policy = find(objects, "NetworkPolicy", name, NAMESPACE)
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 8081, "protocol": "TCP"}]}]
    # Off by default, and refused without the key it decodes with.
    assert not any(name in str(o["metadata"]) for o in render(CLUSTER_WIDE))
    with pytest.raises(Exception, match=r"codec\.server\.enabled needs codec\.keySecret"):
        render({**CLUSTER_WIDE, "codec": {"server": {"enabled": True}}})


def test_the_codec_server_limits_are_values() -> None:
    limits = {
        "maxBodyBytes": 1048576,
        "maxPayloads": 50,
        "maxConnections": 4,
        "maxHeaderBytes": 32768,
        "requestTimeoutSeconds": 7.5,
    }
    codec = {"keySecret": "k", "server": {"enabled": True, "limits": limits}}
    flags = args(render({**CLUSTER_WIDE, "codec": codec}), "gastown-operator-codec-server")
    for flag in (
        "--max-body-bytes=1048576",
        "--max-payloads=50",
        "--max-connections=4",
        "--max-header-bytes=32768",
        "--request-timeout=7.5",
    ):
        assert flag in flags
    # The schema refuses a limit that would stop the server serving.
    for bad in (
        {"maxConnections": 0},
        {"requestTimeoutSeconds": 0},
        {"maxBodyBytes": 10},
        {"maxHeaderBytes": 100},
    ):
        wrong = {"keySecret": "k", "server": {"enabled": True, "limits": bad}}
        with pytest.raises(Exception, match=next(iter(bad))):
            render({**CLUSTER_WIDE, "codec": wrong})
