"""Where Temporal is and how to reach it: flags first, then TEMPORAL_* env and profiles
(temporalio's envconfig).

Using the SDK's own envconfig means `temporal` CLI profiles (temporal.toml) and the variables
Temporal documents (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, …)
work unchanged for gt, the worker and the watcher alike. The worker's and watcher's TLS and
API-key flags are the same variables given on the command line (a flag wins over its
variable), plus TEMPORAL_API_KEY_FILE: a mounted Secret, read once at start.

Every file is checked here, before anything connects, so a wrong path is a usage error that
names the option and its variable. The API key itself is never part of a message or a repr.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from temporalio.envconfig import ClientConfigProfile

from gastown.config.errors import CodecConfigError, ConfigError

if TYPE_CHECKING:
    # Imported where used: the data converter (pydantic's) and the codec (cryptography) cost
    # a tenth of a second, and kube-only `kubectl gt` commands import gastown.config too.
    from temporalio.converter import DataConverter, PayloadCodec

    from gastown.codec import AESGCMCodec

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "gastown"

ENV_TLS_CERT: Final = "TEMPORAL_TLS_CLIENT_CERT_PATH"
ENV_TLS_KEY: Final = "TEMPORAL_TLS_CLIENT_KEY_PATH"
ENV_TLS_CA: Final = "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
ENV_API_KEY: Final = "TEMPORAL_API_KEY"
ENV_API_KEY_FILE: Final = "TEMPORAL_API_KEY_FILE"
# The payload codec's key file (docs/codec.md): every process that talks to Temporal reads it.
ENV_CODEC_KEY_FILE: Final = "GASTOWN_CODEC_KEY_FILE"
# The worker's and watcher's flag for each variable, for messages that name both.
OPTIONS: Final = {
    ENV_TLS_CERT: "--temporal-tls-cert",
    ENV_TLS_KEY: "--temporal-tls-key",
    ENV_TLS_CA: "--temporal-tls-ca",
    ENV_API_KEY_FILE: "--temporal-api-key-file",
    ENV_CODEC_KEY_FILE: "--codec-key-file",
}


def _named(var: str) -> str:
    return f"{OPTIONS[var]} ({var})" if var in OPTIONS else var


@dataclass(frozen=True)
class TemporalSettings:
    address: str
    namespace: str
    task_queue: str = DEFAULT_TASK_QUEUE
    profile: str | None = None
    # Everything else envconfig resolved (TLS, API key, gRPC metadata). Kept out of repr so a
    # logged settings object never shows a key.
    connect_extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # The payload codec (AES-GCM, docs/codec.md) when a key file is configured; None: off.
    codec: PayloadCodec | None = field(default=None, repr=False)

    def data_converter(self) -> DataConverter:
        """The pydantic converter every process uses, with the payload codec when it is on:
        the worker, the watcher and `kubectl gt` must all agree on it."""
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

        if self.codec is None:
            return pydantic_data_converter
        # Failures' messages and stack traces move into an encoded (so encrypted) payload:
        # an error message may quote what the codec hides (a resource name, an env value).
        return dataclasses.replace(
            pydantic_data_converter,
            payload_codec=self.codec,
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        )

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `temporalio.client.Client.connect`."""
        return {**self.connect_extra, "target_host": self.address, "namespace": self.namespace}

    @property
    def security(self) -> str:
        """How the connection is secured, for logs and messages (no secret in it)."""
        tls = self.connect_extra.get("tls")
        parts = ["plaintext" if not tls else "TLS"]
        if tls and not isinstance(tls, bool):
            if tls.client_cert:
                parts.append("client certificate")
            if tls.server_root_ca_cert:
                parts.append("own CA")
        if self.connect_extra.get("api_key"):
            parts.append("API key")
        return ", ".join(parts)

    def describe(self) -> str:
        return f"{self.address} (namespace {self.namespace}, {self.security})"

    def redact(self, text: str) -> str:
        """`text` with the API key blanked, should an error ever echo it."""
        key = self.connect_extra.get("api_key")
        return text.replace(key, "<redacted>") if key else text


def _check_readable(var: str, path: str) -> None:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"{_named(var)}: cannot read {path}: {reason}; mount the file there or fix the path"
        ) from None
    if not data.strip():
        raise ConfigError(f"{_named(var)}: {path} is empty")


def _check_pair(has_cert: bool, has_key: bool, where: str) -> None:
    if has_cert == has_key:
        return
    given, missing = (ENV_TLS_CERT, ENV_TLS_KEY) if has_cert else (ENV_TLS_KEY, ENV_TLS_CERT)
    raise ConfigError(
        f"{_named(given)} is set{where} but {_named(missing)} is not: a client certificate "
        "needs its key and the key its certificate; set both, or neither"
    )


def _api_key_from_file(path: str, environ: Mapping[str, str]) -> str:
    if environ.get(ENV_API_KEY):
        raise ConfigError(
            f"both {ENV_API_KEY} and {_named(ENV_API_KEY_FILE)} are set: set one of them"
        )
    _check_readable(ENV_API_KEY_FILE, path)
    key = Path(path).expanduser().read_text(errors="replace").strip()
    if any(c.isspace() for c in key):
        raise ConfigError(
            f"{_named(ENV_API_KEY_FILE)}: {path} holds more than one word; "
            "it must hold only the API key"
        )
    return key


def codec_from_file(path: str) -> AESGCMCodec:
    """The payload codec for the key file at `path`; a file that cannot work is a
    CodecConfigError naming the flag and its variable (never a key)."""
    from gastown.codec import CodecKeyError, load_key_file

    try:
        return load_key_file(path)
    except CodecKeyError as exc:
        raise CodecConfigError(
            f"{_named(ENV_CODEC_KEY_FILE)}: {exc}; mount the codec key Secret there (docs/codec.md)"
        ) from None


def resolve_temporal(
    *,
    address: str | None = None,
    namespace: str | None = None,
    task_queue: str | None = None,
    profile: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls_ca: str | None = None,
    api_key_file: str | None = None,
    codec_key_file: str | None = None,
    env: Mapping[str, str] | None = None,
) -> TemporalSettings:
    # envconfig insists on a real dict (os.environ is a Mapping but not one).
    environ = dict(os.environ if env is None else env)
    for var, value in ((ENV_TLS_CERT, tls_cert), (ENV_TLS_KEY, tls_key), (ENV_TLS_CA, tls_ca)):
        if value:
            environ[var] = value
    for var in (ENV_TLS_CERT, ENV_TLS_KEY, ENV_TLS_CA):
        if environ.get(var):
            _check_readable(var, environ[var])
    _check_pair(
        bool(environ.get(ENV_TLS_CERT) or environ.get("TEMPORAL_TLS_CLIENT_CERT_DATA")),
        bool(environ.get(ENV_TLS_KEY) or environ.get("TEMPORAL_TLS_CLIENT_KEY_DATA")),
        "",
    )
    key_file = api_key_file or environ.get(ENV_API_KEY_FILE)
    if key_file:
        environ[ENV_API_KEY] = _api_key_from_file(key_file, environ)
    profile_name = profile or environ.get("TEMPORAL_PROFILE")
    try:
        loaded = ClientConfigProfile.load(profile_name, override_env_vars=environ)
    except Exception as exc:  # the SDK raises plain RuntimeError/ValueError for bad files
        raise ConfigError(
            f"cannot read the Temporal client profile {profile_name or 'default'!r}: {exc}; "
            "fix the file named by TEMPORAL_CONFIG_FILE or pass --temporal-address"
        ) from None
    if loaded.tls is not None:
        _check_pair(
            loaded.tls.client_cert is not None,
            loaded.tls.client_private_key is not None,
            " (in the Temporal client profile)",
        )
    try:
        connect = dict(loaded.to_client_connect_config())
    except OSError as exc:  # a profile naming a file that is not there
        raise ConfigError(
            f"the Temporal client profile {profile_name or 'default'!r} names a file that "
            f"cannot be read: {exc.filename}: {exc.strerror}"
        ) from None
    connect.pop("target_host", None)
    connect.pop("namespace", None)
    codec_file = codec_key_file or environ.get(ENV_CODEC_KEY_FILE)
    codec = codec_from_file(codec_file) if codec_file else None
    return TemporalSettings(
        address=address or loaded.address or DEFAULT_ADDRESS,
        namespace=namespace or loaded.namespace or DEFAULT_NAMESPACE,
        task_queue=task_queue or environ.get("GASTOWN_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
        profile=profile_name,
        connect_extra=connect,
        codec=codec,
    )
