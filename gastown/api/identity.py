"""Deterministic names, labels and annotations: how every actor finds what another created.

A retried activity, a restarted worker, the watcher and `kubectl gt` all derive the same
workflow ID, pod name and labels from (namespace, polecat, attempt), so nothing is ever
looked up by "the newest one" and nothing is created twice.
"""

from __future__ import annotations

import hashlib
from typing import Final

from gastown.api.group import GROUP
from gastown.api.patterns import POLECAT_NAME_MAX

PREFIX: Final = GROUP  # label and annotation prefix

LABEL_POLECAT: Final = f"{PREFIX}/polecat"
LABEL_RIG: Final = f"{PREFIX}/rig"
LABEL_BEAD: Final = f"{PREFIX}/bead"
LABEL_CONVOY: Final = f"{PREFIX}/convoy"
LABEL_ATTEMPT: Final = f"{PREFIX}/attempt"
LABEL_WORKFLOW: Final = f"{PREFIX}/workflow"  # label-safe digest of the workflow ID
LABEL_RUN: Final = f"{PREFIX}/run"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "gastown-operator"

ANNOTATION_WORKFLOW_ID: Final = f"{PREFIX}/workflow-id"
ANNOTATION_RUN_ID: Final = f"{PREFIX}/run-id"
# On a Polecat: the trace its workflow run belongs to (32 hex digits), when it was traced.
ANNOTATION_TRACE_ID: Final = f"{PREFIX}/trace-id"
# "true": work the bead even if another polecat of the rig already works it (`sling --force`).
ANNOTATION_ALLOW_SAME_BEAD: Final = f"{PREFIX}/allow-same-bead"
# On a finished polecat's pod: when the watcher may delete it (RFC 3339), the pod's TTL.
ANNOTATION_DELETE_AFTER: Final = f"{PREFIX}/delete-after"

POLECAT_WORKFLOW_PREFIX: Final = "polecat"
CONVOY_WORKFLOW_PREFIX: Final = "convoy"
CREDENTIALS_WORKFLOW_PREFIX: Final = "credentials"


def polecat_workflow_id(namespace: str, name: str) -> str:
    """`polecat/<namespace>/<name>`: neither part may contain '/', so this is unambiguous."""
    return f"{POLECAT_WORKFLOW_PREFIX}/{namespace}/{name}"


def rig_slots_workflow_id(rig: str, task_queue: str) -> str:
    """`rig-slots/<task queue>/<rig>`: one slots workflow per rig (rigs are cluster-scoped)
    among the workers of one task queue. A workflow runs on the queue it was started on, so a
    slots workflow another queue's workers started would never be served by ours."""
    return f"rig-slots/{task_queue}/{rig}"


def convoy_workflow_id(namespace: str, name: str) -> str:
    """`convoy/<namespace>/<name>`, as for polecats."""
    return f"{CONVOY_WORKFLOW_PREFIX}/{namespace}/{name}"


def credentials_workflow_id(namespace: str, secret: str) -> str:
    """`credentials/<namespace>/<secret>`: one workflow per credentials Secret, whatever the
    task queue, so no two refreshes of one session can ever interleave."""
    return f"{CREDENTIALS_WORKFLOW_PREFIX}/{namespace}/{secret}"


def convoy_polecat_name(convoy: str, bead: str, retry: int = 0, *, hashed: bool = False) -> str:
    """The polecat a convoy dispatches for a bead: `<convoy>-<bead>`, `-r<n>` for the n-th
    retry; readable, and the same on every replay and retry, so a create that is retried finds
    its own polecat. Where that name cannot be used — too long for a polecat (52), a bead ID
    with a dot, or `hashed` because another convoy's polecat has it (convoy `a-b` with bead
    `c-d` and convoy `a` with bead `b-c-d` meet) — a digest of (convoy, bead, retry) goes in
    and the convoy part is cut to fit."""
    suffix = f"-r{retry}" if retry else ""
    name = f"{convoy}-{bead}{suffix}"
    if not hashed and "." not in bead and len(name) <= POLECAT_NAME_MAX:
        return name
    digest = hashlib.sha256(f"{convoy}/{bead}/{retry}".encode()).hexdigest()[:8]
    tail = f"-{digest}-{bead.replace('.', '-')}{suffix}"
    room = POLECAT_NAME_MAX - len(tail)
    if room < 1:  # a very long bead ID: the digest alone keeps it unique
        return f"{convoy[:20].rstrip('-')}-{digest}{suffix}"
    return f"{convoy[:room].rstrip('-')}{tail}"


def parse_polecat_workflow_id(workflow_id: str) -> tuple[str, str]:
    kind, namespace, name = workflow_id.split("/")
    if kind != POLECAT_WORKFLOW_PREFIX:
        raise ValueError(f"not a polecat workflow ID: {workflow_id!r}")
    return namespace, name


def workflow_label(workflow_id: str) -> str:
    """A label value (≤ 63 chars, no '/') that identifies the workflow; the full ID is an
    annotation beside it."""
    return hashlib.sha256(workflow_id.encode()).hexdigest()[:40]


def pod_name(polecat: str, attempt: int) -> str:
    """`polecat-<name>-<attempt>`; polecat names are capped so this fits a DNS label."""
    return f"polecat-{polecat}-{attempt}"


def task_configmap_name(polecat: str) -> str:
    """The ConfigMap that carries the task text into the pod (it can be 256 KiB)."""
    return f"polecat-{polecat}-task"


def pod_auth_secret_name(polecat: str) -> str:
    """The polecat's own Secret: the one access token its pods may see (never a refresh
    token), owned by the Polecat and deleted when it ends."""
    return f"polecat-{polecat}-auth"
