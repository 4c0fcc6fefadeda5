"""Rig status: polecat counts by phase, active convoys, Ready or Degraded and why.

The watcher owns Rig status entirely (nothing else writes it). Counts come from an in-memory
index the polecat and convoy events keep (no list calls); a rig is recomputed when one of its
polecats or convoys changes phase, when the rig itself changes, and on a slow resync, which is
what notices a default Secret created or deleted later. A rig is Degraded when a namespace
that has polecats of the rig lacks one of the rig's default Secrets; the condition names the
Secrets and namespaces (names only: no Secret content is ever read into status).

Counting: Idle and not-yet-reported polecats count as pending; `polecatCount` is every
polecat of the rig, whatever its phase.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gastown.api.convoy import ConvoyPhase
from gastown.api.rig import PolecatCounts, RigPhase, RigStatus
from gastown.kube import RIGS, SECRETS, Kube, NotFound, patching, reading
from gastown.kube import conditions as conditions_
from gastown.kube.status import fields
from gastown.operator.queue import WorkQueue

log = logging.getLogger("gastown.watcher.rigs")

PHASE_BUCKET = {
    "Pending": "pending",
    "Queued": "pending",  # waiting for a slot under maxPolecats: not yet working
    "Idle": "pending",
    "Working": "working",
    "Done": "done",
    "Failed": "failed",
    "Stuck": "stuck",
    "Terminated": "terminated",
}
BUCKETS = ("pending", "working", "done", "failed", "stuck", "terminated")
SECRET_REFS = ("gitSecretRef", "claudeCredsSecretRef", "apiKeySecretRef", "forgeTokenSecretRef")


def convoy_active(phase: str | None) -> bool:
    """Not in a final phase (Complete, PartiallyFailed, Failed, Cancelled); a convoy whose
    workflow has not written its phase yet, or a phase this version does not know, counts."""
    try:
        return phase is None or not ConvoyPhase(phase).is_final
    except ValueError:
        return True


def default_secrets(rig: dict[str, Any]) -> list[str]:
    defaults = ((rig.get("spec") or {}).get("settings") or {}).get("polecatDefaults") or {}
    names = [str((defaults.get(ref) or {}).get("name")) for ref in SECRET_REFS]
    return sorted({n for n in names if n and n != "None"})


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Nothing worth a write: equal but for lastTransitionTime."""
    rest = [k for k in new if k != "conditions"]
    return {k: old.get(k) for k in rest} == {k: new[k] for k in rest} and conditions_.same(
        old.get("conditions") or [], new.get("conditions") or []
    )


@dataclass
class Rigs:
    api: Kube
    resync_seconds: float = 30.0
    # (namespace, name) -> (rig, phase) for polecats; (namespace, name) -> (rig, phase) convoys.
    polecats: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    convoys: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    rigs: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue: WorkQueue[str] = field(init=False)
    _resync: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.queue = WorkQueue("rig", self._reconcile, initial_backoff=0.2, max_backoff=10.0)

    # ---------------------------------------------------------------- events
    def on_rig(self, event_type: str | None, body: dict[str, Any]) -> None:
        name = str(body["metadata"]["name"])
        if event_type == "DELETED":
            self.rigs.pop(name, None)
            return
        self.rigs[name] = body
        self.queue.put(name, None)

    def on_polecat(self, event_type: str | None, body: dict[str, Any]) -> None:
        self._index(self.polecats, event_type, body, "rig")

    def on_convoy(self, event_type: str | None, body: dict[str, Any]) -> None:
        self._index(self.convoys, event_type, body, "rigRef")

    def _index(
        self,
        index: dict[tuple[str, str], tuple[str, str | None]],
        event_type: str | None,
        body: dict[str, Any],
        rig_field: str,
    ) -> None:
        meta = body["metadata"]
        key = (str(meta.get("namespace")), str(meta["name"]))
        before = index.get(key)
        if event_type == "DELETED":
            index.pop(key, None)
            now = None
        else:
            rig = (body.get("spec") or {}).get(rig_field)
            if not rig:
                return
            now = (str(rig), (body.get("status") or {}).get("phase"))
            index[key] = now
        if before != now:
            for entry in (before, now):
                if entry is not None and entry[0] in self.rigs:
                    self.queue.put(entry[0], None)

    # ---------------------------------------------------------------- resync
    def start(self) -> None:
        self._resync = asyncio.create_task(self._resync_loop(), name="rig-resync")

    async def stop(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
        await self.queue.close()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            for name in list(self.rigs):
                self.queue.put(name, None)

    # ---------------------------------------------------------------- status
    def desired(self, name: str, missing: list[tuple[str, str]], old: dict[str, Any]) -> Any:
        counts = Counter(
            PHASE_BUCKET.get(phase or "Pending", "pending")
            for rig, phase in self.polecats.values()
            if rig == name
        )
        convoys = sum(
            1 for rig, phase in self.convoys.values() if rig == name and convoy_active(phase)
        )
        old_conditions = old.get("conditions") or []
        if missing:
            by_secret: dict[str, list[str]] = {}
            for ns, secret in missing:
                by_secret.setdefault(secret, []).append(ns)
            text = "; ".join(
                f"Secret {s!r} missing in namespace(s) {', '.join(sorted(n))}"
                for s, n in sorted(by_secret.items())
            )
            secrets = conditions_.condition(
                old_conditions, "SecretsPresent", "False", "SecretMissing", text
            )
            ready = conditions_.condition(old_conditions, "Ready", "False", "SecretMissing", text)
            phase = RigPhase.DEGRADED
        else:
            text = "every namespace with polecats of this rig has the rig's default Secrets"
            secrets = conditions_.condition(
                old_conditions, "SecretsPresent", "True", "SecretsFound", text
            )
            ready = conditions_.condition(
                old_conditions, "Ready", "True", "RigReady", "the rig is ready"
            )
            phase = RigPhase.READY
        return fields(
            RigStatus(
                phase=phase,
                polecat_count=sum(counts.values()),
                polecats=PolecatCounts(**{b: counts.get(b, 0) for b in BUCKETS}),
                active_convoys=convoys,
                conditions=[ready, secrets],
            )
        )

    async def _missing(self, name: str, rig: dict[str, Any]) -> list[tuple[str, str]]:
        secrets = default_secrets(rig)
        namespaces = sorted({ns for (ns, _), (r, _) in self.polecats.items() if r == name})
        checks = [(ns, s) for ns in namespaces for s in secrets]
        found = await asyncio.gather(
            *(self.api.run(reading.exists(SECRETS, s, ns)) for ns, s in checks)
        )
        return [pair for pair, ok in zip(checks, found, strict=True) if not ok]

    async def _reconcile(self, name: str, _: Any) -> None:
        rig = self.rigs.get(name)
        if rig is None:
            return
        old = rig.get("status") or {}
        status = self.desired(name, await self._missing(name, rig), old)
        status["observedGeneration"] = rig["metadata"].get("generation")
        if _same(old, status):
            return
        try:
            written = await self.api.run(
                patching.merge(RIGS, name, {"status": status}, status=True)
            )
        except NotFound:
            self.rigs.pop(name, None)
            return
        if name in self.rigs:
            self.rigs[name] = written
