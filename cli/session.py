"""What every `kubectl gt` command shares: global flags, clients, and how errors end.

Errors end the kubectl way: `error: <what> …<next step>` on stderr, exit code 2 for usage
(bad flags, malformed names), 1 for everything that failed at run time, and never a
traceback for something the user can fix.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from gastown.cli.output import Format

if TYPE_CHECKING:
    from temporalio.client import Client

    from gastown.config import KubeSettings, TemporalSettings
    from gastown.kube import Kube
    from gastown.telemetry.tracing import Tracing

P = ParamSpec("P")
R = TypeVar("R")


# Seconds the command's spans may take to send at exit (a collector that is down).
EXPORT_TIMEOUT = 2.0


class Usage(Exception):
    """Bad input: exit 2, nothing created."""


class Failure(Exception):
    """A run-time failure the user can act on: exit 1."""


Kubeconfig = Annotated[
    str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file to use.")
]
KubeContext = Annotated[
    str | None, typer.Option("--context", help="The kubeconfig context to use.")
]
Namespace = Annotated[
    str | None,
    typer.Option("-n", "--namespace", help="Namespace (default: the kubeconfig context's)."),
]
TemporalAddress = Annotated[
    str | None,
    typer.Option(
        "--temporal-address", help="Temporal frontend host:port (default: TEMPORAL_ADDRESS)."
    ),
]
TemporalNamespace = Annotated[
    str | None,
    typer.Option("--temporal-namespace", help="Temporal namespace (default: TEMPORAL_NAMESPACE)."),
]
CodecKeyFile = Annotated[
    str | None,
    typer.Option(
        "--codec-key-file",
        envvar="GASTOWN_CODEC_KEY_FILE",
        help="Payload codec key file (JSON, docs/codec.md): encrypt what goes to Temporal and "
        "decrypt what comes back, as the worker does. Default: off.",
    ),
]
Output = Annotated[
    Format, typer.Option("-o", "--output", help="Output format.", case_sensitive=False)
]


@dataclass
class Session:
    """Lazily connected clients for one command invocation."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace_flag: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str | None = None
    codec_key_file: str | None = None
    _kube: KubeSettings | None = field(default=None, repr=False)
    _client: Kube | None = field(default=None, repr=False)
    _tracing: Tracing | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """A codec key file that cannot work is a usage error before anything is read or
        created, whatever the command does next."""
        if self.codec_key_file:
            from gastown.config import CodecConfigError, codec_from_file

            try:
                codec_from_file(self.codec_key_file)
            except CodecConfigError as exc:
                raise Usage(str(exc)) from exc

    @property
    def tracing(self) -> Tracing:
        """Traces when the OTEL_* environment names an endpoint (gastown/telemetry)."""
        if self._tracing is None:
            from gastown.telemetry.tracing import from_env

            self._tracing = from_env("kubectl-gt", export_timeout=EXPORT_TIMEOUT)
        return self._tracing

    def close(self) -> None:
        """Send the command's spans before the process exits."""
        if self._tracing is not None:
            self._tracing.shutdown()

    @property
    def kube(self) -> KubeSettings:
        if self._kube is None:
            from gastown.config import ConfigError, resolve_kube

            try:
                self._kube = resolve_kube(
                    kubeconfig=self.kubeconfig, context=self.context, namespace=self.namespace_flag
                )
            except ConfigError as exc:
                raise Failure(str(exc)) from exc
        return self._kube

    @property
    def namespace(self) -> str:
        return self.kube.namespace

    @property
    def client(self) -> Kube:
        """The cluster, one try per call: a terminal user sees an error now. Without the
        official client where the credentials allow it (token, client certificate): its import
        is a third of a command's time (docs/benchmarks.md); exec plugins and auth providers
        still go through it."""
        if self._client is None:
            from gastown.config import ConfigError
            from gastown.kube import FAIL_FAST, connect

            try:
                self._client = connect(self.kube, FAIL_FAST, lean=True).traced(
                    self.tracing.tracer("gastown.kube")
                )
            except ConfigError as exc:
                raise Failure(str(exc)) from exc
        return self._client

    @property
    def temporal_settings(self) -> TemporalSettings:
        from gastown.config import CodecConfigError, ConfigError, resolve_temporal

        try:
            return resolve_temporal(
                address=self.temporal_address,
                namespace=self.temporal_namespace,
                codec_key_file=self.codec_key_file,
            )
        except CodecConfigError as exc:  # a key file the user named: a usage error
            raise Usage(str(exc)) from exc
        except ConfigError as exc:
            raise Failure(str(exc)) from exc

    async def temporal(self) -> Client:
        from temporalio.client import Client

        settings = self.temporal_settings
        try:
            return await Client.connect(
                **settings.connect_kwargs(),
                data_converter=settings.data_converter(),
                interceptors=self.tracing.interceptors(),
            )
        except Exception as exc:
            raise Failure(
                f"cannot reach Temporal at {settings.address} (namespace "
                f"{settings.namespace}): {exc}; set --temporal-address or TEMPORAL_ADDRESS "
                "(for a local sandbox: `kubectl gt dev up`)"
            ) from exc


def api_message(exc: BaseException) -> str:
    """The API server's own words for a Kubernetes error, else the exception."""
    from gastown.kube.errors import translate

    err = translate(exc, transport=False)
    return err.message if err is not None else str(exc)


def _encrypted_without_key(exc: BaseException) -> bool:
    """A payload the codec encrypted met a converter without the codec (the SDK's
    "Unknown payload encoding binary/encrypted", anywhere in the exception's chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "binary/encrypted" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _codec_refusal(exc: BaseException) -> str | None:
    """The payload codec's own refusal anywhere in the chain (a key ID the file lacks, a
    payload strict mode refuses or one bound elsewhere, one that does not decrypt), as one
    line. Only when the codec was loaded: kube-only commands never import it."""
    codec = sys.modules.get("gastown.codec.aesgcm")
    if codec is None:
        return None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, codec.UnknownKeyID | codec.PayloadRefused) or (
            isinstance(current, ValueError) and "does not decrypt with key ID" in str(current)
        ):
            return f"{current} (docs/codec.md)"
        current = current.__cause__ or current.__context__
    return None


def say_error(text: str) -> None:
    """The one place a command's error reaches the terminal: URL passwords masked (a
    `--git-url https://user:TOKEN@…` is echoed back by the checks and by the API server)."""
    from gastown.cli.output import mask_url_passwords

    typer.echo(f"error: {mask_url_passwords(text)}", err=True)


@contextmanager
def errors_end_cleanly() -> Iterator[None]:
    try:
        yield
    except Usage as exc:
        say_error(str(exc))
        raise typer.Exit(2) from None
    except Failure as exc:
        say_error(str(exc))
        raise typer.Exit(1) from None
    except Exception as exc:
        if _encrypted_without_key(exc):
            say_error(
                "Temporal holds payloads encrypted by the payload codec and this command "
                "has no key: set --codec-key-file or GASTOWN_CODEC_KEY_FILE to the key file the "
                "worker uses (docs/codec.md)"
            )
            raise typer.Exit(2) from None
        refusal = _codec_refusal(exc)
        if refusal is not None:
            say_error(refusal)
            raise typer.Exit(1) from None
        from gastown.kube.errors import Unavailable, translate

        err = translate(exc, transport=False)
        if err is None:
            raise
        text = err.message
        if isinstance(err, Unavailable) and err.status is None:
            text += "; check --kubeconfig and --context"
        say_error(text)
        raise typer.Exit(1) from None


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command body so expected errors print one line and set the exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with errors_end_cleanly():
            return fn(*args, **kwargs)

    return wrapper


# The flags every command that talks to the cluster and Temporal takes, last in its --help.
SESSION_FLAGS: tuple[tuple[str, Any], ...] = (
    ("namespace", Namespace),
    ("kubeconfig", Kubeconfig),
    ("context", KubeContext),
    ("temporal_address", TemporalAddress),
    ("temporal_namespace", TemporalNamespace),
    ("codec_key_file", CodecKeyFile),
)


def session_command(fn: Callable[..., int | None]) -> Callable[..., None]:
    """A command body `fn(session, **flags)` as a typer command that also takes the
    SESSION_FLAGS, so the shared flags and the Session built from them are written once.

    typer reads the returned function's signature: `fn`'s own parameters but `session`,
    then the shared flags. Expected errors end as `command` ends them; an int returned is
    the exit code (`--wait`'s verdict)."""
    own = list(inspect.signature(fn, eval_str=True).parameters.values())
    if not own or own[0].name != "session":
        raise TypeError(f"{fn.__name__}: the first parameter must be `session`")
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=flag)
        for name, flag in SESSION_FLAGS
    ]
    params = own[1:] + shared

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> None:
        flags = {name: kwargs.pop(name) for name, _ in SESSION_FLAGS}
        with errors_end_cleanly():
            session = Session(
                kubeconfig=flags["kubeconfig"],
                context=flags["context"],
                namespace_flag=flags["namespace"],
                temporal_address=flags["temporal_address"],
                temporal_namespace=flags["temporal_namespace"],
                codec_key_file=flags["codec_key_file"],
            )
            try:
                code = fn(session, **kwargs)
            finally:
                session.close()
        if code:
            raise typer.Exit(code)

    wrapper.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def split_ref(ref: str) -> tuple[str | None, str]:
    """`<rig>/<name>` or `<name>` (the seed's polecat addressing)."""
    if ref.count("/") > 1:
        raise Usage(f"{ref!r} is not <rig>/<name> or <name>")
    rig, _, name = ref.rpartition("/")
    return (rig or None), name


def any_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
