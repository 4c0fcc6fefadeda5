"""Spec fields a running polecat cannot take: rig, beadID, the repository.

The CRD refuses these changes itself (CEL transition rules in gastown/api/crd.py), so on a
real API server this module never fires. It is the fallback where CEL is not evaluated (older
clusters, the sandbox): the change is reported, never applied. The workflow keeps running on
the spec it started with (its input), and the watcher says so with a Warning Event and the
condition SpecAccepted=False, which turns True again once the spec is set back.

What the workflow runs with is read from what it recorded: the rig and bead labels its ensure
step sets, and the repository annotation the watcher records when it adopts.
"""

from __future__ import annotations

from typing import Any

from gastown.api import identity as ids
from gastown.kube import POLECATS, Conflict, Kube, NotFound, events, patching
from gastown.kube import conditions as conditions_

CONDITION = "SpecAccepted"
ANNOTATION_REPOSITORY = f"{ids.PREFIX}/git-repository"
COMPONENT = "gastown-watcher"


def _repository(spec: dict[str, Any]) -> str | None:
    value = (spec.get("kubernetes") or {}).get("gitRepository")
    return str(value) if value else None


def record(body: dict[str, Any]) -> dict[str, str]:
    """Annotations to set on adoption: the repository the workflow will run with."""
    repo = _repository(body.get("spec") or {})
    return {ANNOTATION_REPOSITORY: repo} if repo else {}


def changes(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, running value, requested value) for each refused change."""
    spec = body.get("spec") or {}
    meta = body["metadata"]
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    out = []
    for path, running, wanted in (
        ("spec.rig", labels.get(ids.LABEL_RIG), spec.get("rig")),
        ("spec.beadID", labels.get(ids.LABEL_BEAD), spec.get("beadID")),
        (
            "spec.kubernetes.gitRepository",
            annotations.get(ANNOTATION_REPOSITORY),
            _repository(spec),
        ),
    ):
        if running is not None and running != (wanted or ""):
            out.append((path, str(running), str(wanted or "")))
    return out


async def check(kube: Kube, ns: str, name: str, body: dict[str, Any]) -> None:
    refused = changes(body)
    status = body.get("status") or {}
    conditions = list(status.get("conditions") or [])
    current = next((c for c in conditions if c.get("type") == CONDITION), None)
    if not refused:
        if current is None or current.get("status") == "True":
            return
        new = ("True", "SpecApplied", "the spec matches the run")
    else:
        text = "; ".join(
            f"{path} cannot change while the polecat has a workflow (it runs with {old!r}, "
            f"not {new!r})"
            for path, old, new in refused
        )
        text += "; delete the polecat and create a new one to change it"
        new = ("False", "ImmutableFieldChanged", text)
        if current is not None and current.get("message") == text:
            return
        event = events.body(
            body,
            key=text,
            reason="ImmutableFieldChanged",
            message=text,
            component=COMPONENT,
            kind="Warning",
        )
        await kube.run(events.record(event))
    meta = body["metadata"]
    cond = conditions_.condition(conditions, CONDITION, *new, meta.get("generation"))
    upserted = conditions_.upsert(conditions, cond)
    patch = patching.with_version({"status": {"conditions": upserted}}, meta["resourceVersion"])
    try:
        await kube.run(patching.merge(POLECATS, name, patch, ns, status=True))
    except (Conflict, NotFound):
        return  # a newer version is coming through the watch; the next run decides again
