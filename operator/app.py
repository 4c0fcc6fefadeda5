"""The light watcher: kopf watches, small level-triggered reconcilers act.

kopf is used for what it does well and nothing more: it lists and watches Polecats, Pods
(those labelled as a polecat's), Rigs and Convoys, re-lists after a 410, reconnects dropped
streams with backoff and retries its requests on 429 after Retry-After. Only `on.event`
handlers are registered, so kopf itself never writes to our objects: no progress or diff-base
annotations, no status fields of its own, no Events. Each handler just hands the newest body to
a work queue (queue.py), which runs the reconcilers (polecats.py, convoys.py, mirror.py,
rigstatus.py, podttl.py's deletes, credentials.py's signals) one at a time per object and
retries failures with backoff. podttl.py keeps the one in-memory schedule of finished pods'
deletion times. Credentials Secrets (labelled by `kubectl gt auth sync`) are not kopf's: they
are listed and watched as metadata only (credentials.py's MetadataInformer, so the watcher never
receives a token), and each new version is signalled to the Secret's credentials workflow.

Who writes what (the full picture is in docs/architecture.md):

- the workflow: Polecat metadata on creation, and every top-level status field
  (read-modify-write with the resourceVersion);
- the watcher: `status.pod` (merge patch of that key alone), its finalizer entry, the
  workflow-id and repository annotations on adoption, the SpecAccepted condition (read-modify-
  write with the resourceVersion), a never-started polecat's Terminated phase, and the whole
  Rig status; a Convoy's workflow-id annotation on adoption; the deletion of a finished
  polecat pod past its TTL (by UID).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

from temporalio.client import Client
from temporalio.common import MetricMeter

from gastown.api import identity as ids
from gastown.api.crd import GROUP, VERSION
from gastown.kube import Credentials, Kube
from gastown.operator.convoys import Convoys
from gastown.operator.credentials import CredentialsWatch, CredentialsWorkflows, MetadataInformer
from gastown.operator.fleet import Fleet
from gastown.operator.lean import without
from gastown.operator.mirror import Mirror
from gastown.operator.podttl import PodTTL
from gastown.operator.polecats import Polecats
from gastown.operator.queue import QueueMetrics
from gastown.operator.rigstatus import Rigs
from gastown.operator.workflow import ConvoyWorkflows, Workflows

with without():  # kopf without the official client (lean.py)
    import kopf

log = logging.getLogger("gastown.watcher")


def _body(event: kopf.RawEvent) -> dict[str, Any]:
    """The object as the API sent it (kopf's RawBody is a TypedDict over the same dict)."""
    return cast(dict[str, Any], event["object"])


@dataclass(frozen=True)
class WatcherOptions:
    rig_resync_seconds: float = 30.0
    # Empty: watch every namespace. Else only these (Polecats, Convoys, pods and credentials
    # Secrets; Rigs are cluster-scoped), so a namespaced install's Roles suffice.
    namespaces: tuple[str, ...] = ()
    # kopf closes each watch request after this long and starts a new one from the last
    # resourceVersion; short enough to notice a half-dead connection.
    watch_server_timeout: int = 300
    watch_client_timeout: int = 330


def connection_info(creds: Credentials) -> kopf.ConnectionInfo:
    """kopf's credentials from the ones gastown.kube resolved (kubeconfig or in-cluster
    service account), so both clients talk to the same cluster as the same user."""
    return kopf.ConnectionInfo(
        server=creds.server,
        ca_path=creds.ca_path,
        insecure=creds.insecure,
        scheme=creds.scheme,
        token=creds.token,
        certificate_path=creds.certificate_path,
        private_key_path=creds.private_key_path,
        username=creds.username,
        password=creds.password,
    )


@dataclass
class Watcher:
    api: Kube
    temporal: Client
    task_queue: str
    options: WatcherOptions = field(default_factory=WatcherOptions)
    # Where the fleet's gauges and the queues' depth and lag go (the process's SDK meter;
    # docs/observability.md); by default nowhere.
    meter: MetricMeter = field(default=MetricMeter.noop)

    def __post_init__(self) -> None:
        self.workflows = Workflows(self.temporal, self.task_queue)
        self.polecats = Polecats(self.api, self.workflows)
        self.mirror = Mirror(self.api)
        self.podttl = PodTTL(self.api)
        self.convoys = Convoys(self.api, ConvoyWorkflows(self.temporal, self.task_queue))
        self.rigs = Rigs(self.api, resync_seconds=self.options.rig_resync_seconds)
        self.credentials = CredentialsWatch(CredentialsWorkflows(self.temporal, self.task_queue))
        self.fleet = Fleet(self.meter)
        # Not kopf: credentials Secrets are watched as metadata only, so no token reaches us;
        # one informer for the cluster, or one per watched namespace.
        self.secret_informers = [
            MetadataInformer(self.api, self._on_secret, namespace=ns)
            for ns in (self.options.namespaces or (None,))
        ]
        self.secrets = self.secret_informers[0]
        queues = QueueMetrics.of(self.meter)
        for part in (self.polecats, self.mirror, self.podttl, self.convoys, self.rigs):
            part.queue.metrics = queues
        self.credentials.queue.metrics = queues
        self.registry = self._registry()

    def _on_secret(self, event_type: str | None, body: dict[str, Any]) -> None:
        self.credentials.on_secret(event_type, body)
        self.fleet.on_secret(event_type, body)

    def _registry(self) -> kopf.OperatorRegistry:
        registry = kopf.OperatorRegistry()

        @kopf.on.startup(registry=registry)
        async def startup(**_: Any) -> None:
            self.rigs.start()
            self.podttl.start()
            for informer in self.secret_informers:
                informer.start()

        @kopf.on.cleanup(registry=registry)
        async def cleanup(**_: Any) -> None:
            await self.close()

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            # Asked at each login (kopf logs in again after a 401): a rotated service account
            # token is read anew.
            return connection_info(self.api.credentials())

        @kopf.on.event(GROUP, VERSION, "polecats", registry=registry)
        async def polecat_event(event: kopf.RawEvent, **_: Any) -> None:
            body = _body(event)
            kind = event.get("type")
            self.polecats.on_polecat(kind, body)
            self.rigs.on_polecat(kind, body)
            self.fleet.on_polecat(kind, body)
            if kind == "DELETED":
                meta = body["metadata"]
                self.mirror.forget((meta["namespace"], meta["name"]))

        @kopf.on.event(
            "", "v1", "pods", labels={ids.LABEL_POLECAT: kopf.PRESENT}, registry=registry
        )
        async def pod_event(event: kopf.RawEvent, **_: Any) -> None:
            body = _body(event)
            self.mirror.on_pod(event.get("type"), body)
            self.podttl.on_pod(event.get("type"), body)

        @kopf.on.event(GROUP, VERSION, "rigs", registry=registry)
        async def rig_event(event: kopf.RawEvent, **_: Any) -> None:
            self.rigs.on_rig(event.get("type"), _body(event))

        @kopf.on.event(GROUP, VERSION, "convoys", registry=registry)
        async def convoy_event(event: kopf.RawEvent, **_: Any) -> None:
            body = _body(event)
            self.convoys.on_convoy(event.get("type"), body)
            self.rigs.on_convoy(event.get("type"), body)
            self.fleet.on_convoy(event.get("type"), body)

        return registry

    async def step_down(self) -> None:
        """Stop what acts on its own clock rather than on an event (the pod TTL timer) at
        once: called the moment the Lease is lost, before kopf has wound down."""
        await self.podttl.stop()
        for informer in self.secret_informers:
            await informer.stop()

    async def close(self) -> None:
        """Stop every reconciler (idempotent): nothing acts after this returns."""
        await self.podttl.stop()
        for informer in self.secret_informers:
            await informer.stop()
        await self.rigs.stop()
        await self.convoys.queue.close()
        await self.credentials.queue.close()
        await self.mirror.queue.close()
        await self.polecats.queue.close()

    def settings(self) -> kopf.OperatorSettings:
        opts = self.options
        settings = kopf.OperatorSettings()
        settings.posting.enabled = False  # no kopf Events: ours are named and deduplicated
        # No watch of CustomResourceDefinitions (nor a list of Namespaces): our CRDs are
        # installed before the watcher (the chart's crds/), discovery at start finds them, and
        # the chart's RBAC grants nothing on apiextensions (charts/gastown-operator/README.md).
        settings.scanning.disabled = True
        settings.watching.server_timeout = opts.watch_server_timeout
        settings.watching.client_timeout = opts.watch_client_timeout
        settings.watching.connect_timeout = 10
        settings.networking.request_timeout = 30
        settings.networking.error_backoffs = [0.1, 0.2, 0.5, 1, 2, 5]
        # Memory (docs/benchmarks.md, Watcher): kopf's per-object worker keeps the last body it
        # handled until it exits, so with kopf's 5 s every Polecat and pod of the initial
        # listing is alive at once, next to the mirror's patches; the heap never shrinks back
        # from that peak. Exiting after 0.5 s idle, and listing 100 objects per request instead
        # of all at once, took ~35 MB off the watcher's RSS with 2,000 polecats.
        settings.queueing.idle_timeout = 0.5
        settings.watching.chunk_size = 100
        return settings

    async def run(self, stop_flag: Any = None, ready_flag: Any = None) -> None:
        """Watch and act until `stop_flag` is set (an asyncio.Event or Future)."""
        await kopf.operator(
            registry=self.registry,
            settings=self.settings(),
            clusterwide=not self.options.namespaces,
            namespaces=list(self.options.namespaces),
            standalone=True,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
