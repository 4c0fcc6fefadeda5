"""Each API answer becomes its typed error, with the API server's own message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gastown.kube import (
    FAIL_FAST,
    NAMESPACES,
    POLECATS,
    RIGS,
    SECRETS,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    Kube,
    KubeError,
    NotFound,
    Unauthorized,
    Unavailable,
    from_kubeconfig,
    patching,
    reading,
    writing,
)
from gastown.kube.errors import from_status
from gastown.kube.watching import request, watch
from gastown.sandbox import Sandbox


def polecat(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": POLECATS.api_version,
        "kind": POLECATS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"rig": "r", "beadID": "dm-0001", **spec},
    }


async def test_404_is_not_found_with_the_servers_message(kube: Kube, namespace: str) -> None:
    with pytest.raises(NotFound) as info:
        await kube.run(reading.get(POLECATS, "nobody", namespace))
    assert info.value.status == 404
    assert '"nobody" not found' in info.value.message
    assert await kube.run(reading.get_or_none(POLECATS, "nobody", namespace)) is None
    assert await kube.run(reading.exists(SECRETS, "nothing", namespace)) is False


async def test_409_on_a_second_create_is_conflict(kube: Kube, namespace: str) -> None:
    await kube.run(writing.create(POLECATS, polecat(namespace, "twice")))
    with pytest.raises(Conflict) as info:
        await kube.run(writing.create(POLECATS, polecat(namespace, "twice")))
    assert "already exists" in info.value.message


async def test_409_on_a_stale_resource_version(kube: Kube, namespace: str) -> None:
    created = await kube.run(writing.create(POLECATS, polecat(namespace, "stale")))
    stale = created["metadata"]["resourceVersion"]
    await kube.run(
        patching.merge(POLECATS, "stale", {"metadata": {"labels": {"a": "1"}}}, namespace)
    )
    guarded = patching.with_version({"metadata": {"labels": {"a": "2"}}}, stale)
    with pytest.raises(Conflict):
        await kube.run(patching.merge(POLECATS, "stale", guarded, namespace))


async def test_422_when_the_schema_refuses(kube: Kube, namespace: str) -> None:
    with pytest.raises(Invalid) as info:
        await kube.run(writing.create(POLECATS, polecat(namespace, "bad", desiredState="Dancing")))
    assert info.value.status == 422
    assert "desiredState" in info.value.message


async def test_403_when_the_server_forbids(kube: Kube) -> None:
    with pytest.raises(Forbidden) as info:
        await kube.run(writing.delete(NAMESPACES, "default"))
    assert "may not be deleted" in info.value.message


def test_410_from_an_expired_watch_is_gone(
    sandbox: Sandbox, fail_fast: Kube, namespace: str
) -> None:
    listed = fail_fast.run_sync(reading.items(POLECATS, namespace))
    assert listed == []
    sandbox.faults.expire_next_watch()
    with pytest.raises(Gone):
        for _ in watch(
            fail_fast, request(POLECATS, namespace, resource_version="1", timeout_seconds=5)
        ):
            pass


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, BadRequest), (401, Unauthorized), (418, KubeError), (503, Unavailable)],
)
def test_other_answers_by_status(status: int, kind: type[KubeError]) -> None:
    """The answers the sandbox does not give on its own (it has no authentication in tests)."""
    body = '{"kind": "Status", "message": "the words of the server"}'
    err = from_status(status, "Reason", body)
    assert type(err) is kind
    assert (err.status, err.message) == (status, "the words of the server")
    assert from_status(status, "Reason Phrase", "not json").message == "Reason Phrase"


def test_no_server_is_unavailable_without_a_status(tmp_path: Path) -> None:
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
    with pytest.raises(Unavailable) as info:
        dead.run_sync(reading.items(RIGS))
    assert info.value.status is None
    assert "cannot reach the Kubernetes API" in info.value.message
