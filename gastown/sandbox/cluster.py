"""`Sandbox`: the API server, store and pod runner assembled, runnable in-process or alone.

Tests usually run it on a background thread with its own event loop (`start_in_thread`), so
that blocking clients (the official `kubernetes` client, a kubectl subprocess) and asyncio
clients (kopf) in the test's loop all talk to it over real HTTP.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from aiohttp import web

from gastown.sandbox import kubeconfig, tls
from gastown.sandbox.faults import Faults
from gastown.sandbox.resources import ResourceType
from gastown.sandbox.server import ApiServer
from gastown.sandbox.store import CRD_KEY, Store

if TYPE_CHECKING:
    from gastown.sandbox.kubelet import Kubelet

JSON = dict[str, Any]
T = TypeVar("T")


@dataclass
class SandboxConfig:
    """Knobs of a sandbox cluster; the defaults suit both tests and `kubectl gt dev up`."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = field(default_factory=lambda: secrets.token_urlsafe(24))
    history: int = 10_000
    bookmark_interval: float = 60.0
    kubelet: bool = True
    node_name: str = "sandbox-node"
    node_cpu: str = "8"
    node_memory: str = "16Gi"
    node_pods: int = 110
    # Container mode: pods run with podman from the real local images (containerrun.py);
    # off, containers run as local processes (hostprocess.py, the fast default).
    containers: bool = False
    podman: str = "podman"
    # Process mode: image (fnmatch pattern) -> its ENTRYPOINT, used when a container gives no
    # `command` (the container's `args` are appended, as to a real ENTRYPOINT). The polecat
    # image's ENTRYPOINT is tini, a pass-through: on the host its args run directly.
    image_commands: dict[str, list[str]] = field(
        default_factory=lambda: {"*/polecat-agent:*": [], "polecat-agent:*": []}
    )
    # Directories put first on containers' PATH: where the "image's" programs live on the host
    # (for polecat pods, a venv holding gt-polecat that the pod's non-root user can execute).
    bin_dirs: tuple[Path, ...] = ()
    # Images (fnmatch pattern) whose containers finish at once, exit 0, with this termination
    # message: no process runs. For benchmarking what surrounds pods, not the pods.
    instant_images: dict[str, str] = field(default_factory=dict)
    # Images that "fail to pull": ErrImagePull, then ImagePullBackOff.
    pull_failing_images: tuple[str, ...] = ("*.invalid/*", "*:pull-fails")
    crds: tuple[Path, ...] = ()
    # securityContext.runAsUser/runAsGroup/runAsNonRoot, honoured when the runner is root.
    # Off: containers run as the runner (for hosts where other users cannot reach the
    # interpreter, e.g. a Python under /root).
    honour_run_as_user: bool = True
    # HTTPS with a self-signed CA in the kubeconfig (kubectl sends tokens only over TLS).
    tls: bool = True


class Sandbox:
    """A sandbox cluster: `async with Sandbox(cfg)` or `start_in_thread()`/`stop_thread()`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.faults = Faults()
        self.store: Store | None = None
        self.api: ApiServer | None = None
        self.kubelet: Kubelet | None = None
        self._runner: web.AppRunner | None = None
        # Every connection that carried a request, so stop() can close what is still open.
        self._transports: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    @property
    def kubeconfig_path(self) -> Path:
        return self.config.state_dir / "kubeconfig"

    async def start(self) -> None:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        self.store = Store(history=cfg.history)
        self.api = ApiServer(
            self.store,
            self.faults,
            cfg.token,
            cfg.state_dir,
            bookmark_interval=cfg.bookmark_interval,
        )
        for path in cfg.crds:
            self._install(path.read_text())
        if cfg.kubelet:
            from gastown.sandbox.kubelet import Kubelet

            self.kubelet = Kubelet(self.store, cfg)
            self.kubelet.register_admin(self.api)
            await self.kubelet.start()
        app = self.api.app()
        app.middlewares.append(self._track_transport)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        ssl_ctx = None
        ca: Path | None = None
        if cfg.tls:
            ca, key = tls.ensure_certificate(cfg.state_dir / "pki", cfg.host)
            ssl_ctx = tls.server_context(ca, key)
        site = web.TCPSite(
            self._runner, cfg.host, cfg.port, reuse_address=True, ssl_context=ssl_ctx
        )
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        scheme = "https" if cfg.tls else "http"
        self.url = f"{scheme}://{cfg.host}:{port}"
        self.api.address = f"{cfg.host}:{port}"
        if self.kubelet is not None:
            self.kubelet.api_port = port
        kubeconfig.write(self.kubeconfig_path, self.url, cfg.token, ca)

    async def stop(self) -> None:
        if self.api is not None:
            self.api.stopping.set()
            self.api.resume()
        if self.store is not None:
            self.store.close_all_watches(include_internal=True)
        if self.kubelet is not None:
            await self.kubelet.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        # cleanup() closes connections gracefully; over TLS that sends close_notify and waits
        # for the peer's, which a client keeping its pool (or a killed `kubectl get -w`) never
        # sends, so the socket would outlive the loop. Abort what is left: abort() schedules
        # each socket's close, and one turn of the loop runs it.
        for transport in list(self._transports):
            transport.abort()
        await asyncio.sleep(0)

    @web.middleware
    async def _track_transport(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.transport is not None:
            self._transports.add(request.transport)
        return await handler(request)

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> Sandbox:
        """Run on a private event loop in a daemon thread; returns once serving."""
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="gastown-sandbox", daemon=True)
        self._thread.start()
        ready.result(timeout=30)
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._thread = None

    # ------------------------------------------------------------------ thread-safe API
    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the sandbox's loop thread (where the store lives) and return its value."""
        assert self._loop is not None
        if self._thread is None or threading.current_thread() is self._thread:
            return fn()
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout=30)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the sandbox's loop from another thread."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def _install(self, text: str) -> list[JSON]:
        assert self.store is not None
        store = self.store
        rt = store.registry.by_key(CRD_KEY)
        assert rt is not None
        out = []
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            existing = store.find(rt, None, doc["metadata"]["name"])
            if existing is None:
                out.append(store.create(rt, None, doc))
            else:
                doc["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
                out.append(store.update(rt, None, doc["metadata"]["name"], doc))
        return out

    def install_crds(self, text: str) -> list[JSON]:
        """Install (or update) CRDs from YAML text, as `kubectl apply -f` would."""
        return self.call(lambda: self._install(text))

    def resource(self, group: str, version: str, plural: str) -> ResourceType | None:
        assert self.store is not None
        store = self.store
        return self.call(lambda: store.registry.get(group, version, plural))

    # ------------------------------------------------------------------ chaos
    def pause(self) -> None:
        """Hold every request (and watch delivery) until `resume()`."""
        assert self.api is not None
        api = self.api
        self.call(api.pause)

    def resume(self) -> None:
        assert self.api is not None
        api = self.api
        self.call(api.resume)

    def expire_history(self) -> None:
        """Compact history: any watch from an earlier resourceVersion gets 410 Gone."""
        assert self.store is not None
        self.call(self.store.expire_history)

    def close_watches(self) -> None:
        """Drop every open watch stream now (what an apiserver restart looks like)."""
        assert self.store is not None
        self.call(self.store.close_all_watches)


@contextlib.contextmanager
def running(config: SandboxConfig) -> Any:
    sandbox = Sandbox(config).start_in_thread()
    try:
        yield sandbox
    finally:
        sandbox.stop_thread()
