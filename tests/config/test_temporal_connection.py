"""The Temporal connection's TLS and API key, from flags or env, with real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from gastown.config import ConfigError, resolve_temporal

KEY = "tk-secret-1234"


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, str]:
    files = {}
    for name in ("cert", "key", "ca"):
        path = tmp_path / f"{name}.pem"
        path.write_bytes(f"-----BEGIN {name.upper()}-----\n{name}\n".encode())
        files[name] = str(path)
    return files


def test_flags_become_the_tls_config(pem: dict[str, str]) -> None:
    settings = resolve_temporal(tls_cert=pem["cert"], tls_key=pem["key"], tls_ca=pem["ca"], env={})
    tls = settings.connect_kwargs()["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == Path(pem["cert"]).read_bytes()
    assert tls.client_private_key == Path(pem["key"]).read_bytes()
    assert tls.server_root_ca_cert == Path(pem["ca"]).read_bytes()
    assert settings.security == "TLS, client certificate, own CA"


def test_the_variables_do_the_same_and_a_flag_wins(pem: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(b"-----BEGIN OTHER-----\n")
    env = {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(other)}
    assert resolve_temporal(env=env).connect_kwargs()["tls"].server_root_ca_cert == (
        other.read_bytes()
    )
    flagged = resolve_temporal(tls_ca=pem["ca"], env=env).connect_kwargs()["tls"]
    assert flagged.server_root_ca_cert == Path(pem["ca"]).read_bytes()
    assert flagged.client_cert is None


def test_plaintext_by_default() -> None:
    settings = resolve_temporal(env={})
    assert not settings.connect_kwargs().get("tls")
    assert settings.describe() == "localhost:7233 (namespace default, plaintext)"


@pytest.mark.parametrize(
    ("option", "flag"),
    [
        ("--temporal-tls-cert (TEMPORAL_TLS_CLIENT_CERT_PATH)", "tls_cert"),
        ("--temporal-tls-ca (TEMPORAL_TLS_SERVER_CA_CERT_PATH)", "tls_ca"),
        ("--temporal-api-key-file (TEMPORAL_API_KEY_FILE)", "api_key_file"),
    ],
)
def test_a_missing_file_names_the_option(option: str, flag: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    kwargs = {flag: missing, **({"tls_key": missing} if flag == "tls_cert" else {})}
    with pytest.raises(ConfigError) as err:
        resolve_temporal(env={}, **kwargs)  # type: ignore[arg-type]
    assert str(err.value).startswith(f"{option}: cannot read {missing}: No such file")


def test_a_key_without_its_certificate(pem: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"--temporal-tls-key .* is set but --temporal-tls-cert"):
        resolve_temporal(tls_key=pem["key"], env={})
    env = {"TEMPORAL_TLS_CLIENT_CERT_PATH": pem["cert"]}
    with pytest.raises(ConfigError, match=r"--temporal-tls-cert .* is set but --temporal-tls-key"):
        resolve_temporal(env=env)


def test_the_api_key_file_turns_tls_on_and_is_never_shown(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(f"{KEY}\n")
    for settings in (
        resolve_temporal(api_key_file=str(key_file), env={}),
        resolve_temporal(env={"TEMPORAL_API_KEY_FILE": str(key_file)}),
    ):
        kwargs = settings.connect_kwargs()
        assert kwargs["api_key"] == KEY
        assert kwargs["tls"] is True
        assert settings.security == "TLS, API key"
        assert KEY not in repr(settings) and KEY not in settings.describe()
        assert settings.redact(f"echoed {KEY}") == "echoed <redacted>"


def test_the_api_key_as_a_value(tmp_path: Path) -> None:
    settings = resolve_temporal(env={"TEMPORAL_API_KEY": KEY})
    assert settings.connect_kwargs()["api_key"] == KEY
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY)
    with pytest.raises(ConfigError, match="both TEMPORAL_API_KEY and --temporal-api-key-file"):
        resolve_temporal(api_key_file=str(key_file), env={"TEMPORAL_API_KEY": KEY})


@pytest.mark.parametrize(
    "content", ["", "  \n", "tk-first tk-second"], ids=["empty", "blank", "words"]
)
def test_a_bad_api_key_file(content: str, tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text(content)
    with pytest.raises(ConfigError, match="--temporal-api-key-file") as err:
        resolve_temporal(api_key_file=str(key_file), env={})
    assert "tk-" not in str(err.value)
