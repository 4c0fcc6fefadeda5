"""agentConfig.modelProvider: one model endpoint and one API key per object, in pydantic and
in the CRD's rules (through the real kubectl); `provider` and `configMapRef` are gone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from gastown.api.polecat import Polecat
from gastown.api.rig import Rig
from tests.conftest import Cluster

ENDPOINT = "https://llm.example.com/anthropic"
BASE_URL_ENV = [{"name": "ANTHROPIC_BASE_URL", "value": "https://other.example.com"}]
KEY_A = {"name": "llm-key", "key": "api-key"}
KEY_B = {"name": "other-key", "key": "api-key"}


def polecat_doc(namespace: str = "ns", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Polecat",
        "metadata": {"name": "furiosa", "namespace": namespace},
        "spec": {"rig": "demo-rig", "beadID": "dm-1", **spec},
    }


def rig_doc(**defaults: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gastown.gastown.io/v1alpha1",
        "kind": "Rig",
        "metadata": {"name": "model-rig"},
        "spec": {
            "gitURL": "https://example.com/org/repo.git",
            "beadsPrefix": "dm",
            "settings": {"polecatDefaults": defaults},
        },
    }


def refusal(model: type[Polecat] | type[Rig], doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(doc)
    return str(caught.value.errors()[0]["msg"])


def test_endpoint_and_base_url_env_together_are_refused() -> None:
    config = {"modelProvider": {"endpoint": ENDPOINT}, "env": BASE_URL_ENV}
    for model, doc in (
        (Polecat, polecat_doc(agentConfig=config)),
        (Rig, rig_doc(agentConfig=config)),
    ):
        message = refusal(model, doc)
        assert "modelProvider.endpoint and agentConfig.env ANTHROPIC_BASE_URL both" in message
        assert "keep one" in message
    # Either alone is fine: ANTHROPIC_BASE_URL in env keeps working.
    Polecat.model_validate(polecat_doc(agentConfig={"env": BASE_URL_ENV}))
    Polecat.model_validate(polecat_doc(agentConfig={"modelProvider": {"endpoint": ENDPOINT}}))


@pytest.mark.parametrize(
    "endpoint",
    ["https://user:secret@llm.example.com/v1", "ftp://llm.example.com", "https://", "llm:443"],
)
def test_an_endpoint_is_an_http_url_without_credentials(endpoint: str) -> None:
    doc = polecat_doc(agentConfig={"modelProvider": {"endpoint": endpoint}})
    with pytest.raises(ValidationError):
        Polecat.model_validate(doc)


def test_two_different_api_keys_on_one_object_are_refused() -> None:
    message = refusal(
        Polecat,
        polecat_doc(
            kubernetes={"apiKeySecretRef": KEY_A},
            agentConfig={"modelProvider": {"apiKeySecretRef": KEY_B}},
        ),
    )
    assert "kubernetes.apiKeySecretRef (llm-key/api-key)" in message
    assert "modelProvider.apiKeySecretRef (other-key/api-key)" in message
    message = refusal(
        Rig,
        rig_doc(apiKeySecretRef=KEY_A, agentConfig={"modelProvider": {"apiKeySecretRef": KEY_B}}),
    )
    assert "polecatDefaults.apiKeySecretRef (llm-key/api-key)" in message
    # The same Secret named twice is one key.
    Polecat.model_validate(
        polecat_doc(
            kubernetes={"apiKeySecretRef": KEY_A},
            agentConfig={"modelProvider": {"apiKeySecretRef": KEY_A}},
        )
    )


@pytest.mark.parametrize(
    "field", [{"provider": "litellm"}, {"configMapRef": {"name": "agent-config"}}]
)
def test_fields_that_did_nothing_are_gone(field: dict[str, Any]) -> None:
    message = refusal(Polecat, polecat_doc(agentConfig=field))
    assert "Extra inputs are not permitted" in message


def apply(cluster: Cluster, doc: dict[str, Any]) -> Any:
    return cluster.kubectl("apply", "-f", "-", stdin=json.dumps(doc))


def test_kubectl_apply_refuses_endpoint_with_base_url_env(cluster: Cluster, namespace: str) -> None:
    config = {"modelProvider": {"endpoint": ENDPOINT}, "env": BASE_URL_ENV}
    result = apply(cluster, polecat_doc(namespace, agentConfig=config))
    assert result.returncode != 0, result.stdout
    assert (
        'spec.agentConfig: Invalid value: "object": modelProvider.endpoint and env '
        "ANTHROPIC_BASE_URL both set the model endpoint; keep one (modelProvider.endpoint)"
    ) in result.stderr, result.stderr
    assert cluster.kubectl("get", "polecat", "furiosa", "-n", namespace).returncode != 0


def test_kubectl_apply_refuses_two_api_keys(cluster: Cluster, namespace: str) -> None:
    doc = polecat_doc(
        namespace,
        kubernetes={"apiKeySecretRef": KEY_A},
        agentConfig={"modelProvider": {"apiKeySecretRef": KEY_B}},
    )
    result = apply(cluster, doc)
    assert result.returncode != 0, result.stdout
    assert (
        "spec.kubernetes.apiKeySecretRef and agentConfig.modelProvider.apiKeySecretRef name "
        "different Secrets"
    ) in result.stderr, result.stderr
    rig = apply(
        cluster,
        rig_doc(apiKeySecretRef=KEY_A, agentConfig={"modelProvider": {"apiKeySecretRef": KEY_B}}),
    )
    assert rig.returncode != 0, rig.stdout
    assert "polecatDefaults.apiKeySecretRef and agentConfig.modelProvider" in rig.stderr
    assert cluster.kubectl("get", "rig", "model-rig").returncode != 0


def test_kubectl_apply_takes_endpoint_and_one_key(cluster: Cluster, namespace: str) -> None:
    doc = polecat_doc(
        namespace,
        kubernetes={"apiKeySecretRef": KEY_A},
        agentConfig={"modelProvider": {"endpoint": ENDPOINT, "apiKeySecretRef": KEY_A}},
    )
    result = apply(cluster, doc)
    assert result.returncode == 0, result.stderr
    got = json.loads(
        cluster.kubectl("get", "polecat", "furiosa", "-n", namespace, "-o", "json").stdout
    )
    assert got["spec"]["agentConfig"]["modelProvider"]["endpoint"] == ENDPOINT


def test_kubectl_apply_of_the_removed_provider_field_names_it(
    cluster: Cluster, namespace: str
) -> None:
    result = apply(cluster, polecat_doc(namespace, agentConfig={"provider": "litellm"}))
    assert result.returncode != 0, result.stdout
    assert "provider" in result.stderr and "unknown field" in result.stderr, result.stderr
