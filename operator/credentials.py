"""Tell the credentials workflows that their Secret changed: the watcher's half of "a parked
polecat resumes by itself when the credentials Secret changes".

The watcher lists and watches the Secrets labelled `gastown.gastown.io/credentials` (set by
`kubectl gt auth sync`; the label selector goes to the API server, so no other Secret is ever
listed) as metadata only: `MetadataInformer` asks for the Table form whose rows carry
PartialObjectMetadata (what `kubectl get -w` asks for), so no token ever reaches the watcher,
not even kopf's memory — which is why these Secrets are not kopf's. On every change it signals
`secret_changed(SecretChanged(version=resourceVersion))` to the Secret's workflow
`credentials/<ns>/<name>`, which wakes the polecats waiting on it; no workflow (NotFound) means
nobody waits, and nothing is started for a replica Secret. A keeper-mode Secret gets a
signal-with-start instead, so its keeper runs from the moment `auth sync --handover` wrote it
(the CLI starts it too; whichever comes first, there is one workflow per Secret, by ID). A
deletion is signalled too (the waiters look again and find it gone).

The same version is not signalled twice (a re-list after a 410 repeats the current state);
a watcher restart signals every Secret once, which heals a signal lost while none ran.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gastown.api.auth import (
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_MODE,
    LABEL_CREDENTIALS,
    AuthMode,
    mode_of,
)
from gastown.api.identity import credentials_workflow_id
from gastown.kube import SECRETS, Gone, Kube, watching
from gastown.kube.calls import Request, one, query
from gastown.kube.retry import Backoff
from gastown.kube.watching import WatchStream
from gastown.operator.queue import WorkQueue
from gastown.workflows import contract as c
from gastown.workflows.messages import CredentialsInput, SecretChanged

log = logging.getLogger("gastown.watcher.credentials")

Key = tuple[str, str]  # (namespace, secret)
# A signal is one quick RPC; past this, the work queue retries with backoff (Temporal down).
SIGNAL_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class SecretSeen:
    """What the watcher keeps of a credentials Secret's event: never its data."""

    version: str
    mode: AuthMode
    deleted: bool = False


def seen(event_type: str | None, body: dict[str, Any]) -> tuple[Key, SecretSeen] | None:
    meta = body.get("metadata") or {}
    ns, name, version = meta.get("namespace"), meta.get("name"), meta.get("resourceVersion")
    if not (ns and name and version):
        return None
    notes = {ANNOTATION_MODE: str((meta.get("annotations") or {}).get(ANNOTATION_MODE, ""))}
    return (str(ns), str(name)), SecretSeen(
        version=str(version), mode=mode_of(notes), deleted=event_type == "DELETED"
    )


@dataclass
class CredentialsWorkflows:
    """The Temporal calls on `credentials/<ns>/<secret>` that the watcher and `kubectl gt auth`
    share."""

    client: Client
    task_queue: str

    def handle(self, namespace: str, secret: str) -> Any:
        return self.client.get_workflow_handle(credentials_workflow_id(namespace, secret))

    async def secret_changed(self, namespace: str, secret: str, version: str) -> bool:
        """Signal the running workflow; False when none runs (nobody waits)."""
        try:
            await self.handle(namespace, secret).signal(
                c.SIGNAL_SECRET_CHANGED, SecretChanged(version=version)
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def keep(self, namespace: str, secret: str, version: str) -> str:
        """Signal-with-start: the keeper runs (started if need be) and hears of `version`.
        Its run ID."""
        handle = await self.client.start_workflow(
            c.CREDENTIALS_WORKFLOW,
            CredentialsInput(namespace=namespace, secret=secret),
            id=credentials_workflow_id(namespace, secret),
            task_queue=self.task_queue,
            start_signal=c.SIGNAL_SECRET_CHANGED,
            start_signal_args=[SecretChanged(version=version)],
            static_summary=f"Credentials: {namespace}/{secret}",
        )
        return str(handle.result_run_id or handle.run_id)


@dataclass
class CredentialsWatch:
    workflows: CredentialsWorkflows
    queue: WorkQueue[Key] = field(init=False)
    # The version last told to each Secret's workflow.
    told: dict[Key, str] = field(default_factory=dict)
    signalled: int = 0  # signals delivered to a running workflow
    started: int = 0  # signal-with-starts (keeper mode)

    def __post_init__(self) -> None:
        self.queue = WorkQueue("credentials", self.reconcile, initial_backoff=0.5, max_backoff=30)

    def on_secret(self, event_type: str | None, body: dict[str, Any]) -> None:
        found = seen(event_type, body)
        if found is not None:
            self.queue.put(*found)

    async def reconcile(self, key: Key, change: SecretSeen) -> None:
        ns, name = key
        if change.deleted:
            self.told.pop(key, None)
        elif self.told.get(key) == change.version:
            return
        async with asyncio.timeout(SIGNAL_TIMEOUT_SECONDS):
            if change.mode == AuthMode.KEEPER and not change.deleted:
                await self.workflows.keep(ns, name, change.version)
                self.started += 1
                log.info(
                    "credentials %s/%s (keeper) at %s: keeper signalled", ns, name, change.version
                )
            elif await self.workflows.secret_changed(ns, name, change.version):
                self.signalled += 1
                log.info(
                    "credentials %s/%s at %s: its workflow signalled", ns, name, change.version
                )
        if not change.deleted:
            self.told[key] = change.version


# The API server's Table form with each row's object as PartialObjectMetadata: names, versions,
# labels and annotations, never `data`. Real API servers and the sandbox both serve it (it is
# what `kubectl get -w` asks for), for lists and watches alike.
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def slim(meta: dict[str, Any]) -> dict[str, Any]:
    """Only what the watcher needs of a Secret's metadata. The rest goes at once: a Secret made
    with `kubectl apply` carries its whole data in the last-applied-configuration annotation."""
    m = meta.get("metadata") or {}
    kept = {k: m[k] for k in ("namespace", "name", "uid", "resourceVersion") if k in m}
    notes = m.get("annotations") or {}
    # The mode, and the expiry for the credentials-expiry gauge (fleet.py): a time, no secret.
    ours = {k: str(notes[k]) for k in (ANNOTATION_MODE, ANNOTATION_EXPIRES_AT) if k in notes}
    if ours:
        kept["annotations"] = ours
    return {"kind": meta.get("kind"), "apiVersion": meta.get("apiVersion"), "metadata": kept}


def _metas(table: dict[str, Any]) -> list[dict[str, Any]]:
    rows = table.get("rows") or []
    return [
        slim(r["object"]) for r in rows if isinstance(r, dict) and isinstance(r.get("object"), dict)
    ]


def _key(meta: dict[str, Any]) -> Key:
    m = meta.get("metadata") or {}
    return (str(m.get("namespace") or ""), str(m.get("name") or ""))


@dataclass
class MetadataInformer:
    """List, then watch, the labelled Secrets as metadata only, so the watcher never receives
    a token (kopf would list and watch whole Secrets). Re-lists after a 410 (and tells of the
    Secrets gone meanwhile), reconnects with capped backoff; the watch is read by a thread of
    its own and aborted from the loop (gastown.kube's WatchStream)."""

    kube: Kube
    deliver: Callable[[str | None, dict[str, Any]], None]
    label_selector: str = LABEL_CREDENTIALS
    # None: every namespace (/api/v1/secrets); else only this one (a namespaced install, whose
    # RBAC allows listing Secrets in the served namespaces only).
    namespace: str | None = None
    watch_seconds: int = 300
    listed: int = 0  # lists done (a re-list after 410 included)
    _known: dict[Key, dict[str, Any]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _stream: WatchStream | None = None
    _stopping: bool = False

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="credentials-informer")

    def reconnect(self) -> None:
        """End the current watch call (from any thread); the informer watches again from the
        version it reached, as after a dropped connection."""
        if self._stream is not None:
            self._stream.abort()

    async def stop(self) -> None:
        self._stopping = True
        if self._stream is not None:
            self._stream.abort()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(initial=0.5, cap=30.0)
        version: str | None = None
        while not self._stopping:
            try:
                if version is None:
                    version = await self._list()
                version = await asyncio.to_thread(self._watch, version, loop)
                backoff.reset()
            except Gone:
                version = None
            except Exception as exc:
                delay = backoff()
                log.warning("credentials Secrets: %s; watching again in %.1fs", exc, delay)
                await asyncio.sleep(delay)

    async def _list(self) -> str:
        request = Request(
            "GET",
            SECRETS.path(self.namespace),
            query(labelSelector=self.label_selector, includeObject="Metadata"),
            headers={"Accept": TABLE},
            timeout=60,
        )
        table: dict[str, Any] = await self.kube.run(one(request))
        metas = _metas(table)
        self.listed += 1
        keys = {_key(m) for m in metas}
        for key in [k for k in self._known if k not in keys]:
            self._emit("DELETED", self._known[key])
        for meta in metas:
            self._emit(None, meta)
        return str((table.get("metadata") or {}).get("resourceVersion") or "")

    def _emit(self, kind: str | None, meta: dict[str, Any]) -> None:
        key = _key(meta)
        if kind == "DELETED":
            self._known.pop(key, None)
        else:
            self._known[key] = meta
        self.deliver(kind, meta)

    def _watch(self, version: str, loop: asyncio.AbstractEventLoop) -> str:
        """One watch call, in a thread; the version to go on from."""
        base = watching.request(
            SECRETS,
            self.namespace,
            label_selector=self.label_selector,
            resource_version=version or None,
            timeout_seconds=self.watch_seconds,
            bookmarks=True,
        )
        request = replace(
            base, query=(*base.query, ("includeObject", "Metadata")), headers={"Accept": TABLE}
        )
        stream = WatchStream(self.kube, request)
        self._stream = stream
        if self._stopping or not stream.connect():
            return version
        for kind, obj in stream.events():
            for meta in _metas(obj):
                version = str((meta.get("metadata") or {}).get("resourceVersion") or version)
                loop.call_soon_threadsafe(self._emit, kind, meta)
            if kind == "BOOKMARK":
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        return version
