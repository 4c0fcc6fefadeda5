"""The chart rendered by Helm's own Go SDK (helm-python-sdk), and the value sets the tests use.

One place knows how the chart is rendered, so every test (schema, Pod Security, RBAC,
server-side apply, the kustomize base's drift check) looks at the same objects a `helm
install` would send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts/gastown-operator"
RELEASE = "gastown-operator"
NAMESPACE = "gastown-system"
# The Kubernetes version the objects are validated against (kubectl here is 1.32), and the
# oldest the chart supports (Chart.yaml kubeVersion).
KUBE_VERSIONS = ("1.32.0", "1.26.0")

# The chart refuses to render without watchNamespaces unless clusterWide is said out loud.
CLUSTER_WIDE: dict[str, Any] = {"clusterWide": True}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "cluster-wide": CLUSTER_WIDE,
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "openshift": {**CLUSTER_WIDE, "openshift": True, "namespace": {"create": True}},
    "temporal-cloud": {
        **CLUSTER_WIDE,
        "temporal": {
            "address": "gastown.a1b2c.tmprl.cloud:7233",
            "namespace": "gastown.a1b2c",
            "apiKey": {"secretName": "temporal-cloud-api-key"},
            "tls": {"secretName": "temporal-cloud-mtls", "caKey": "ca.crt"},
            "registerSearchAttributes": False,
        },
    },
    # Everything optional switched on: the dev server, PDBs for both, the ServiceMonitor, the
    # Grafana dashboard's ConfigMap, the PrometheusRule and the payload codec's key.
    "everything": {
        **CLUSTER_WIDE,
        "codec": {
            "keySecret": "gastown-codec-key",
            "server": {"enabled": True, "uiOrigins": ["https://temporal-ui.example.com"]},
        },
        "polecatNamespaces": ["agents"],
        "namespace": {"create": True},
        "worker": {"replicas": 2},
        "temporal": {"devServer": {"enabled": True}},
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
            "dashboard": {"enabled": True},
            "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
        },
    },
}


def render(
    values: dict[str, Any] | None = None, *, release: str = RELEASE, namespace: str = NAMESPACE
) -> list[dict[str, Any]]:
    """Every object the chart renders (templates only; the CRDs are in crds/), in order."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=release, namespace=namespace, is_install=True)
    objects: list[dict[str, Any]] = []
    for path in sorted(manifests):
        if not path.endswith(".yaml"):
            continue
        objects.extend(d for d in yaml.safe_load_all(manifests[path]) if d)
    return objects


def pod_templates(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, Pod) for every pod template the objects carry."""
    pods = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            template = obj["spec"]["template"]
            pod = {"apiVersion": "v1", "kind": "Pod", **template}
            pods.append((obj["metadata"]["name"], pod))
    return pods


def find(objects: list[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> Any:
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return obj
    raise KeyError(f"{kind} {namespace}/{name} not rendered")


def args(objects: list[dict[str, Any]], deployment: str) -> list[str]:
    dep = find(objects, "Deployment", deployment, NAMESPACE)
    return list(dep["spec"]["template"]["spec"]["containers"][0]["args"])
