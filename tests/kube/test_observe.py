"""The one error hook of the one boundary: every failed call through `Kube.send`, with its
Kubernetes verb and HTTP code (`none`: no answer), and nothing for a call that succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gastown.kube import (
    FAIL_FAST,
    PODS,
    RIGS,
    Kube,
    KubeError,
    from_kubeconfig,
    observe,
    patching,
    reading,
    watching,
)
from gastown.sandbox import Sandbox
from gastown.sandbox.faults import FaultRule


@pytest.fixture
def heard() -> Iterator[list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []
    remove = observe.on_api_error(lambda verb, code: calls.append((verb, code)))
    yield calls
    remove()


async def test_failed_calls_are_heard_by_verb_and_code(
    kube: Kube, sandbox: Sandbox, namespace: str, heard: list[tuple[str, str]]
) -> None:
    await kube.run(reading.items(PODS, namespace))  # succeeds: nothing heard
    assert heard == []
    with pytest.raises(KubeError):
        await kube.run(reading.get(PODS, "nobody", namespace))
    sandbox.faults.add(FaultRule(verb="patch", resource="pods", namespace=namespace, code=500))
    with pytest.raises(KubeError):
        await kube.run(patching.merge(PODS, "nobody", {"metadata": {}}, namespace))
    assert heard == [("get", "404"), ("patch", "500")]


def test_no_answer_is_code_none_and_a_watch_is_watch(
    tmp_path: Path, heard: list[tuple[str, str]]
) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    dead = from_kubeconfig(str(path), FAIL_FAST)  # port 9 (discard): nothing listens
    with pytest.raises(KubeError):
        dead.run_sync(reading.items(RIGS))
    assert heard == [("get", "none")]
    request = watching.request(RIGS, None, resource_version="1", timeout_seconds=1)
    assert observe.verb(request) == "watch"


def test_a_hook_that_raises_never_becomes_the_calls_failure(kube: Kube, namespace: str) -> None:
    def broken(verb: str, code: str) -> None:
        raise RuntimeError("a metric failed")

    remove = observe.on_api_error(broken)
    try:
        with pytest.raises(KubeError) as info:
            kube.run_sync(reading.get(PODS, "nobody", namespace))
        assert info.value.status == 404
    finally:
        remove()
