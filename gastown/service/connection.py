"""The one way the worker and the watcher connect to Temporal, and what both serve beside
their work: the health endpoints and the SDK's metrics.

A failed connection is one line naming the address and how it was secured (plaintext, TLS,
client certificate, API key), never the key, and never a traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.runtime import Runtime

from gastown.config import TemporalSettings
from gastown.service.health import ReadyCheck, start_health_server
from gastown.service.telemetry import metrics_runtime


class TemporalUnreachable(Exception):
    """Temporal did not answer, or refused the connection's TLS or credentials."""


@dataclass(frozen=True)
class ServiceOptions:
    """What both processes serve for the cluster around them (off unless asked)."""

    health_port: int | None = None
    metrics_bind_address: str | None = None

    def runtime(self) -> Runtime | None:
        return metrics_runtime(self.metrics_bind_address) if self.metrics_bind_address else None


def _hint(settings: TemporalSettings) -> str:
    if settings.connect_extra.get("tls"):
        return (
            "TLS is on: check that the server serves TLS on that port, that "
            "--temporal-tls-ca names the CA that signed its certificate, and that it accepts "
            "this client's certificate (--temporal-tls-cert/--temporal-tls-key) or API key"
        )
    return (
        "check the address (--temporal-address, TEMPORAL_ADDRESS); a server that requires TLS "
        "needs --temporal-tls-ca (or an API key, which turns TLS on)"
    )


async def connect(
    settings: TemporalSettings, runtime: Runtime | None = None, *, lazy: bool = False
) -> Client:
    try:
        return await Client.connect(
            **settings.connect_kwargs(),
            data_converter=settings.data_converter(),
            runtime=runtime,
            lazy=lazy,
        )
    except RuntimeError as exc:  # the SDK's core reports every connect failure as one
        raise TemporalUnreachable(
            f"cannot connect to Temporal at {settings.describe()}: "
            f"{settings.redact(str(exc))}; {_hint(settings)}"
        ) from None


@asynccontextmanager
async def health_endpoints(port: int | None, ready: ReadyCheck) -> AsyncIterator[None]:
    """The health server for the body of the `async with` (nothing when `port` is None)."""
    if port is None:
        yield
        return
    server = await start_health_server(port, ready)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
