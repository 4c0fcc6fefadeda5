"""Configuration resolution, with real files and temporalio's real envconfig."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gastown.config import ConfigError, resolve_kube, resolve_temporal


def _kubeconfig(tmp_path: Path, namespace: str | None) -> Path:
    ctx: dict[str, str] = {"cluster": "c", "user": "u"}
    if namespace:
        ctx["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "main", "context": ctx},
            {"name": "other", "context": {"cluster": "c", "user": "u", "namespace": "team-b"}},
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_temporal_defaults() -> None:
    settings = resolve_temporal(env={})
    assert (settings.address, settings.namespace, settings.task_queue) == (
        "localhost:7233",
        "default",
        "gastown",
    )


def test_temporal_env_then_flags(tmp_path: Path) -> None:
    env = {"TEMPORAL_ADDRESS": "temporal.example:7233", "TEMPORAL_NAMESPACE": "ns-env"}
    assert resolve_temporal(env=env).address == "temporal.example:7233"
    assert resolve_temporal(env=env).namespace == "ns-env"
    flagged = resolve_temporal(address="flag:1", namespace="ns-flag", env=env)
    assert (flagged.address, flagged.namespace) == ("flag:1", "ns-flag")


def test_temporal_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "from-env:7233")
    monkeypatch.setenv("GASTOWN_TASK_QUEUE", "q1")
    settings = resolve_temporal()
    assert (settings.address, settings.task_queue) == ("from-env:7233", "q1")


def test_temporal_profile_file_is_read(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        '[profile.prod]\naddress = "prod.tmprl.cloud:7233"\nnamespace = "gastown.prod"\n'
        'api_key = "sekrit-key"\n'
    )
    settings = resolve_temporal(env={"TEMPORAL_CONFIG_FILE": str(config)}, profile="prod")
    assert settings.address == "prod.tmprl.cloud:7233"
    assert settings.namespace == "gastown.prod"
    assert settings.connect_kwargs()["api_key"] == "sekrit-key"
    assert "sekrit-key" not in repr(settings)


def test_bad_profile_file_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text("[profile.x\n")
    with pytest.raises(ConfigError, match="--temporal-address"):
        resolve_temporal(env={"TEMPORAL_CONFIG_FILE": str(config)}, profile="x")


def test_namespace_from_current_context_then_flag(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, "team-a")
    env = {"KUBECONFIG": str(path)}
    assert resolve_kube(env=env).namespace == "team-a"
    assert resolve_kube(env=env, context="other").namespace == "team-b"
    assert resolve_kube(env=env, namespace="explicit").namespace == "explicit"
    assert resolve_kube(kubeconfig=str(path), env={}).kubeconfig == str(path)


def test_namespace_defaults_to_default(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, None)
    assert resolve_kube(env={"KUBECONFIG": str(path)}).namespace == "default"


def test_unknown_context_names_the_next_step(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, None)
    with pytest.raises(ConfigError, match="get-contexts"):
        resolve_kube(env={"KUBECONFIG": str(path)}, context="nope")


def test_no_cluster_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"KUBECONFIG.*dev up"):
        resolve_kube(env={"KUBECONFIG": str(tmp_path / "missing")})


def test_in_cluster_is_used_inside_a_pod(tmp_path: Path) -> None:
    settings = resolve_kube(
        env={"KUBECONFIG": str(tmp_path / "missing"), "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
        namespace="gastown-system",
    )
    assert settings.in_cluster and settings.namespace == "gastown-system"


def test_current_context_as_kubectl_prints_it(tmp_path: Path) -> None:
    from gastown.config.kube import current_context

    path = _kubeconfig(tmp_path, None)
    assert current_context(env={"KUBECONFIG": str(path)}) == "main"
    with pytest.raises(ConfigError, match="KUBECONFIG"):
        current_context(env={"KUBECONFIG": str(tmp_path / "missing")})
