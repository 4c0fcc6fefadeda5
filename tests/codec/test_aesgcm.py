"""The AES-GCM payload codec: what reaches Temporal is ciphertext under the primary key's ID,
old payloads decode after a rotation, and a key file that cannot work is refused naming the
flag (never showing a key)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.codec import (
    ENCODING,
    FORMAT_METADATA,
    KEY_ID_METADATA,
    UnknownKeyID,
    load_key_file,
)
from gastown.config import CodecConfigError, resolve_temporal
from gastown.workflows.messages import PolecatInput
from tests.codec.keys import new_key, write_key_file

SECRET_TEXT = "fix the flaky login test, token hunter2-in-clear"


def _converter(path: Path):  # type: ignore[no-untyped-def]
    return dataclasses.replace(pydantic_data_converter, payload_codec=load_key_file(path))


async def test_payloads_are_ciphertext_named_by_the_primary_key_id(tmp_path: Path) -> None:
    converter = _converter(write_key_file(tmp_path / "k", "k1", {"k1": new_key()}))
    (payload,) = await converter.encode([{"task": SECRET_TEXT}])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID_METADATA] == b"k1"
    # No context (a converter used outside the SDK): bound to no namespace or workflow.
    assert set(payload.metadata) == {"encoding", KEY_ID_METADATA, FORMAT_METADATA}
    assert payload.metadata[FORMAT_METADATA] == b"2"
    assert b"hunter2" not in payload.SerializeToString()
    assert b"json/plain" not in payload.SerializeToString()
    (back,) = await converter.decode([payload], [dict])
    assert back == {"task": SECRET_TEXT}


async def test_a_rotation_keeps_old_payloads_readable_and_writes_with_the_new_key(
    tmp_path: Path,
) -> None:
    k1, k2 = new_key(), new_key()
    before = _converter(write_key_file(tmp_path / "a", "k1", {"k1": k1}))
    (old,) = await before.encode(["written before the rotation"])
    after = _converter(write_key_file(tmp_path / "b", "k2", {"k1": k1, "k2": k2}))
    (new,) = await after.encode(["written after"])
    assert new.metadata[KEY_ID_METADATA] == b"k2"
    assert await after.decode([old, new], [str, str]) == [
        "written before the rotation",
        "written after",
    ]
    # The old key alone cannot read what the new one wrote: the ID names the missing key.
    with pytest.raises(UnknownKeyID, match="'k2'") as info:
        await before.decode([new], [str])
    assert k1 not in str(info.value) and k2 not in str(info.value)


async def test_a_payload_under_a_changed_key_fails_instead_of_decoding(tmp_path: Path) -> None:
    first = _converter(write_key_file(tmp_path / "a", "k1", {"k1": new_key()}))
    (payload,) = await first.encode(["x"])
    other = _converter(write_key_file(tmp_path / "b", "k1", {"k1": new_key()}))
    with pytest.raises(ValueError, match="does not decrypt with key ID 'k1'"):
        await other.decode([payload], [str])


async def test_payloads_written_without_the_codec_still_decode(tmp_path: Path) -> None:
    (plain,) = await pydantic_data_converter.encode(["from before the codec"])
    converter = _converter(write_key_file(tmp_path / "k", "k1", {"k1": new_key()}))
    assert await converter.decode([plain], [str]) == ["from before the codec"]


async def test_workflow_messages_round_trip(tmp_path: Path) -> None:
    converter = _converter(write_key_file(tmp_path / "k", "k1", {"k1": new_key()}))
    msg = PolecatInput(namespace="ns", name="furiosa", uid="0000-1111")
    (payload,) = await converter.encode([msg])
    assert isinstance(payload, Payload)
    (back,) = await converter.decode([payload], [PolecatInput])
    assert back == msg


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, "cannot read"),
        ("not json", "is not JSON"),
        ('{"primary": "k1"}', 'no "keys"'),
        ('{"primary": "k1", "keys": {"k1": "###"}}', "'k1' is not base64"),
        ('{"primary": "k1", "keys": {"k1": "c2hvcnQ="}}', "'k1' is 5 bytes"),
        ('{"primary": "k9", "keys": {"k1": "KEY"}}', '"primary" must name one of its keys'),
        ('{"keys": {"bad id": "KEY"}}', "'bad id' is not a key ID"),
        ('{"keys": {"k1": "KEY"}, "requireEncryption": "yes"}', '"requireEncryption" must be'),
        ('{"keys": {"k1": "KEY"}, "requireEncryptoin": true}', "unknown field 'requireEncryptoin'"),
    ],
    ids=[
        "missing",
        "not-json",
        "no-keys",
        "not-base64",
        "short",
        "primary",
        "bad-id",
        "strict-not-bool",
        "typo",
    ],
)
def test_a_bad_key_file_is_a_config_error_naming_the_flag(
    tmp_path: Path, content: str | None, named: str
) -> None:
    key = new_key()
    path = tmp_path / "codec.json"
    if content is not None:
        path.write_text(content.replace("KEY", key))
    for settings in ({"codec_key_file": str(path)}, {"env": {"GASTOWN_CODEC_KEY_FILE": str(path)}}):
        with pytest.raises(CodecConfigError) as info:
            resolve_temporal(**({"env": {}} | settings))  # type: ignore[arg-type]
        message = str(info.value)
        assert "--codec-key-file (GASTOWN_CODEC_KEY_FILE)" in message
        assert named in message
        assert key not in message


def test_one_key_without_primary_is_the_primary(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text(json.dumps({"keys": {"only": new_key()}}))
    settings = resolve_temporal(codec_key_file=str(path), env={})
    assert settings.codec is not None
    assert "only" in repr(settings.codec)
    assert settings.data_converter().payload_codec is settings.codec


def test_the_codec_is_off_by_default() -> None:
    settings = resolve_temporal(env={})
    assert settings.codec is None
    assert settings.data_converter() is pydantic_data_converter


OPERATOR = str(Path(sys.executable).parent / "gastown-operator")
KUBECTL_GT = str(Path(sys.executable).parent / "kubectl-gt")


@pytest.mark.parametrize(
    "argv",
    [
        [OPERATOR, "worker", "--codec-key-file", "{path}"],
        [OPERATOR, "watcher"],
        [KUBECTL_GT, "polecat", "nuke", "x", "--codec-key-file", "{path}"],
        [KUBECTL_GT, "sling", "gt-abc", "myrig", "--task", "t"],
    ],
    ids=["worker-flag", "watcher-env", "gt-nuke-flag", "gt-sling-env"],
)
def test_processes_refuse_a_bad_key_file_with_exit_2(tmp_path: Path, argv: list[str]) -> None:
    key = new_key()
    path = tmp_path / "codec.json"
    write_key_file(path, "k1", {"k1": key[:20]})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = subprocess.run(
        [a.replace("{path}", str(path)) for a in argv],
        env={
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "TEMPORAL_ADDRESS": "127.0.0.1:1",
            "GASTOWN_CODEC_KEY_FILE": str(path),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "--codec-key-file (GASTOWN_CODEC_KEY_FILE)" in result.stderr
    assert key[:20] not in result.stderr + result.stdout


def test_settings_alone_load_neither_the_codec_nor_the_converter() -> None:
    """Kube-only `kubectl gt` commands import gastown.config: the codec (cryptography) and
    the pydantic data converter load only when a connection is built (startup time,
    docs/benchmarks.md)."""
    probe = (
        "import sys, gastown.config\n"
        "print(sorted(m for m in ('cryptography', 'temporalio.contrib.pydantic', "
        "'gastown.codec') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


async def test_the_services_connection_carries_the_codec(tmp_path: Path) -> None:
    """The worker and the watcher connect through gastown.service.connection.connect."""
    from gastown.service.connection import connect

    path = write_key_file(tmp_path / "k", "k1", {"k1": new_key()})
    settings = resolve_temporal(codec_key_file=str(path), address="127.0.0.1:1", env={})
    client = await connect(settings, lazy=True)
    assert client.data_converter.payload_codec is settings.codec
    plain = await connect(resolve_temporal(address="127.0.0.1:1", env={}), lazy=True)
    assert plain.data_converter.payload_codec is None


async def _decode_as_a_client_would(encrypted: list[Payload]) -> None:
    try:
        await pydantic_data_converter.decode(encrypted, [str])
    except KeyError as exc:  # as the SDK raises it, wrapped as a client call would be
        raise RuntimeError("query failed") from exc


async def test_a_command_without_the_key_says_which_flag_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `kubectl gt` meets when Temporal holds encrypted payloads and it was given no key
    file: the SDK's own error, turned into one line naming the flag, exit 2."""
    import typer

    from gastown.cli.session import errors_end_cleanly

    converter = _converter(write_key_file(tmp_path / "k", "k1", {"k1": new_key()}))
    encrypted = await converter.encode(["a result"])
    with pytest.raises(typer.Exit) as ended, errors_end_cleanly():
        await _decode_as_a_client_would(encrypted)
    assert ended.value.exit_code == 2
    err = capsys.readouterr().err
    assert "set --codec-key-file or GASTOWN_CODEC_KEY_FILE" in err
    assert err.count("\n") == 1


async def test_a_command_meeting_a_refused_payload_says_why_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A strict `kubectl gt` reading a plaintext result (a workflow from before the codec):
    one line naming requireEncryption, exit 1, no traceback."""
    import typer

    from gastown.cli.session import errors_end_cleanly

    strict = write_key_file(tmp_path / "k", "k1", {"k1": new_key()}, strict=True)
    (plain,) = await pydantic_data_converter.encode(["old result"])

    async def read_result() -> None:
        try:
            await _converter(strict).decode([plain], [str])
        except ValueError as exc:  # wrapped, as a client call would be
            raise RuntimeError("result failed") from exc

    with pytest.raises(typer.Exit) as ended, errors_end_cleanly():
        await read_result()
    assert ended.value.exit_code == 1
    err = capsys.readouterr().err
    assert "requireEncryption" in err and "docs/codec.md" in err
    assert err.count("\n") == 1
