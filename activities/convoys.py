"""The Convoy's side effects: read it, create its beads' Polecats, write its status, tell
someone it finished, and the two Temporal-side calls its workflow needs (nuke its polecats,
learn how the silent ones ended).

Every Kubernetes call goes through gastown.kube on the worker's NO_RETRY client (Temporal
retries); each activity is idempotent: a retried dispatch finds its own Polecat by name,
labels and owner, a retried Event finds itself recorded (named from its content).
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError
from temporalio import activity
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from gastown.activities.errors import permanent, require_served
from gastown.api import identity as ids
from gastown.api.convoy import BeadCounts, BeadState, ConvoySpec, ConvoyStatus
from gastown.api.group import GROUP, VERSION
from gastown.api.polecat import DesiredState, PolecatPhase
from gastown.api.rig import Rig
from gastown.api.types import validation_summary
from gastown.kube import (
    CONVOYS,
    POLECATS,
    RIGS,
    Conflict,
    Invalid,
    Kube,
    NotFound,
    events,
    patching,
    reading,
    writing,
)
from gastown.kube.status import status_patch
from gastown.workflows import contract as c
from gastown.workflows import convoyplan as plan
from gastown.workflows.messages import (
    ConvoyInput,
    ConvoyNotice,
    ConvoyProgress,
    ConvoyStatusUpdate,
    DispatchRequest,
    NukePolecats,
    NukeRequest,
    PolecatInput,
    PolecatReport,
    PolecatResult,
    ResolvedConvoy,
)
from gastown.workflows.resolve import OperatorDefaults

COMPONENT = "gastown-operator"
API_VERSION = f"{GROUP}/{VERSION}"
MESSAGE_MAX = 4096
NOTIFY_TIMEOUT_SECONDS = 10


def mask_url(url: str) -> str:
    """The URL as it may be shown: scheme and host only. A webhook's secret is as often in
    its path (Slack's) or query as in its userinfo, so none of them is ever printed."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def summary_json(notice: ConvoyNotice) -> dict[str, Any]:
    """What the POST sends: the convoy's outcome, bead by bead, no secret."""
    p = notice.progress
    return {
        "convoy": notice.name,
        "namespace": notice.namespace,
        "description": notice.description,
        "phase": p.phase.value,
        "reason": p.reason,
        "message": p.message,
        "counts": p.counts.model_dump(),
        "costUSD": round(p.cost_usd, 4),
        "beads": [
            {
                "beadID": b.bead_id,
                "phase": b.phase.value,
                "polecat": b.polecat,
                "pullRequestURL": b.pull_request_url,
            }
            for b in p.beads
        ],
    }


def convoy_status(u: ConvoyStatusUpdate, generation: int | None, now: datetime) -> ConvoyStatus:
    """The Convoy's status from the workflow's progress (pure)."""
    p: ConvoyProgress = u.progress
    n = p.counts
    return ConvoyStatus(
        phase=p.phase,
        progress=f"{plan.finished(n)}/{n.total}",
        counts=BeadCounts(**n.model_dump()),
        beads=[
            BeadState(
                bead_id=b.bead_id,
                phase=b.phase,
                polecat=b.polecat,
                polecat_phase=b.polecat_phase,
                attempts=b.attempts,
                outcome=b.outcome,
                reason=b.reason,
                branch=b.branch,
                pull_request_url=b.pull_request_url,
                cost_usd=b.cost_usd,
            )
            for b in p.beads
        ],
        cost_usd=round(p.cost_usd, 4),
        reason=p.reason,
        message=(p.message or "")[:MESSAGE_MAX] or None,
        completed_beads=[b.bead_id for b in p.beads if b.phase.value == "Done"],
        pending_beads=[b.bead_id for b in p.beads if not b.phase.is_final],
        started_at=u.started_at,
        completed_at=now if u.finished else None,
        workflow_id=u.workflow_id,
        observed_generation=generation,
    )


class ConvoyActivities:
    def __init__(self, kube: Kube, defaults: OperatorDefaults) -> None:
        self.kube = kube
        self.defaults = defaults

    async def _convoy(self, namespace: str, name: str, uid: str) -> dict[str, Any]:
        gone = permanent(c.CONVOY_GONE, f"convoy {namespace}/{name} (uid {uid}) no longer exists")
        try:
            obj = await self.kube.run(reading.get(CONVOYS, name, namespace))
        except NotFound as exc:
            raise gone from exc
        if obj["metadata"].get("uid") != uid:
            raise gone
        return obj

    @activity.defn(name=c.RESOLVE_CONVOY)
    async def resolve_convoy(self, inp: ConvoyInput) -> ResolvedConvoy:
        require_served(self.defaults.namespaces, inp.namespace, "convoy")
        obj = await self._convoy(inp.namespace, inp.name, inp.uid)
        if obj["metadata"].get("deletionTimestamp"):
            raise permanent(c.CONVOY_GONE, f"convoy {inp.namespace}/{inp.name} is being deleted")
        try:
            spec = ConvoySpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            raise permanent(c.INVALID_SPEC, f"invalid convoy spec: {exc}") from exc
        if spec.rig_ref is None:
            raise permanent(
                c.INVALID_SPEC,
                f"convoy {inp.name} has no spec.rigRef: set it to the rig its beads go to",
            )
        try:
            rig = Rig.model_validate(await self.kube.run(reading.get(RIGS, spec.rig_ref)))
        except ValidationError as exc:
            # A rig stored before a rule it breaks (a reserved env name, one name twice).
            raise permanent(
                c.INVALID_SPEC,
                f"rig {spec.rig_ref!r} is invalid: {validation_summary(exc)}; fix it with "
                f"`kubectl edit rig {spec.rig_ref}`",
            ) from exc
        except NotFound as exc:
            raise permanent(
                c.RIG_NOT_FOUND,
                f"rig {spec.rig_ref!r} (spec.rigRef) not found: create it with "
                f"`kubectl gt rig create {spec.rig_ref} --git-url … --prefix …`",
            ) from exc
        return ResolvedConvoy(
            namespace=inp.namespace,
            name=inp.name,
            uid=inp.uid,
            description=spec.description,
            rig=spec.rig_ref,
            beads=list(spec.tracked_beads),
            parallelism=spec.parallelism,
            max_polecats=rig.spec.settings.max_polecats,
            failure_policy=spec.failure_policy,
            max_retries=spec.max_retries,
            max_cost_usd=spec.max_cost_usd,
            agent=spec.agent,
            notify=bool(spec.notify_on_complete),
        )

    @activity.defn(name=c.DISPATCH_POLECAT)
    async def dispatch_polecat(self, req: DispatchRequest) -> PolecatInput:
        """Create the bead's Polecat (or find the one an earlier try created). Its name is
        deterministic; when another convoy's polecat has it, the digest form is used."""
        for hashed in (False, True):
            name = ids.convoy_polecat_name(req.convoy, req.bead_id, req.retry, hashed=hashed)
            try:
                obj = await self.kube.run(
                    writing.create(POLECATS, _polecat_body(req, name), req.namespace)
                )
            except Invalid as exc:
                raise permanent(
                    c.INVALID_SPEC, f"the API server refused polecat {name}: {exc}"
                ) from exc
            except Conflict:
                obj = await self.kube.run(reading.get(POLECATS, name, req.namespace))
                whose = _whose(obj, req)
                if whose == "other":
                    continue  # another convoy's (or a sling's): take the digest name
                if whose == "predecessor":
                    raise ApplicationError(  # retryable: it goes with its deleted convoy
                        f"polecat {name} of an earlier convoy {req.convoy} is still being "
                        "deleted; retrying"
                    ) from None
                activity.logger.info("adopted polecat %s for bead %s", name, req.bead_id)
            return PolecatInput(namespace=req.namespace, name=name, uid=obj["metadata"]["uid"])
        raise permanent(
            c.NAME_CONFLICT,
            f"polecats {ids.convoy_polecat_name(req.convoy, req.bead_id, req.retry)} and "
            f"{name} exist and belong to something else than convoy {req.convoy}",
        )

    @activity.defn(name=c.UPDATE_CONVOY_STATUS)
    async def update_convoy_status(self, u: ConvoyStatusUpdate) -> None:
        """The whole status, as one merge patch: the workflow is its only writer."""
        obj = await self._convoy(u.namespace, u.name, u.uid)
        status = convoy_status(u, obj["metadata"].get("generation"), datetime.now(UTC))
        try:
            await self.kube.run(
                patching.merge(CONVOYS, u.name, status_patch(status), u.namespace, status=True)
            )
        except NotFound as exc:
            raise permanent(c.CONVOY_GONE, f"convoy {u.namespace}/{u.name} was deleted") from exc
        if u.event_type:
            p = u.progress
            reason = p.reason or p.phase.value
            event = events.body(
                obj,
                key=f"{u.workflow_id}|{p.phase}|{reason}|{u.finished}",
                reason=reason,
                message=p.message or plan.summary(p.counts, p.cost_usd),
                component=COMPONENT,
                kind=cast(Literal["Normal", "Warning"], u.event_type),
            )
            await self.kube.run(events.record(event))

    @activity.defn(name=c.NOTIFY_CONVOY)
    async def notify_convoy(self, notice: ConvoyNotice) -> bool:
        """An Event on the Convoy; when spec.notifyOnComplete is an https URL, one POST of
        the summary too. True when a POST was made. The URL is read here, never carried in
        history, and shown only masked."""
        obj = await self._convoy(notice.namespace, notice.name, notice.uid)
        url = ((obj.get("spec") or {}).get("notifyOnComplete") or "").strip()
        if not url:
            return False
        p = notice.progress
        posting = url.lower().startswith("https://")
        where = f"; summary posted to {mask_url(url)}" if posting else ""
        event = events.body(
            obj,
            key=f"notify|{p.phase}|{activity.info().workflow_run_id}",
            reason="ConvoyFinished",
            message=f"convoy {notice.name} {p.phase.value}: "
            f"{plan.summary(p.counts, p.cost_usd)}{where}",
            component=COMPONENT,
            kind="Normal" if p.phase.value == "Complete" else "Warning",
        )
        await self.kube.run(events.record(event))
        if not posting:
            return False
        body = json.dumps(summary_json(notice)).encode()
        await asyncio.to_thread(_post, url, body)
        return True


def _without_userinfo(url: str) -> tuple[str, dict[str, str]]:
    """urllib reads `user:password@` as part of the host name: it goes as Basic auth instead."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    user = unquote(parts.username)
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return parts._replace(netloc=netloc).geturl(), {"Authorization": f"Basic {token}"}


def _post(url: str, body: bytes) -> None:
    """One POST; failures name the masked URL only (the real one may hold a token)."""
    target, auth = _without_userinfo(url)
    request = urllib.request.Request(  # noqa: S310 - https only, checked by the caller
        target, data=body, method="POST", headers={"Content-Type": "application/json", **auth}
    )
    try:
        with urllib.request.urlopen(request, timeout=NOTIFY_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code == 429
        raise ApplicationError(
            f"POST to {mask_url(url)} answered {exc.code}", non_retryable=not retry
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApplicationError(f"POST to {mask_url(url)} failed: {type(reason).__name__}") from None


def _polecat_body(req: DispatchRequest, name: str) -> dict[str, Any]:
    """The bead's Polecat as a sling would create it, plus the convoy: labels to find it by,
    an owner (deleting the Convoy deletes its polecats; not the controller: the workflow is),
    and the workflow-id annotation at creation, so the watcher never starts it itself."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Polecat",
        "metadata": {
            "name": name,
            "namespace": req.namespace,
            "labels": {
                ids.LABEL_RIG: req.rig,
                ids.LABEL_BEAD: req.bead_id,
                ids.LABEL_CONVOY: req.convoy,
                ids.LABEL_MANAGED_BY: ids.MANAGED_BY,
            },
            "annotations": {
                ids.ANNOTATION_WORKFLOW_ID: ids.polecat_workflow_id(req.namespace, name)
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "Convoy",
                    "name": req.convoy,
                    "uid": req.convoy_uid,
                    "controller": False,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {
            "rig": req.rig,
            "beadID": req.bead_id,
            "desiredState": DesiredState.WORKING.value,
            "agent": req.agent.value,
            "convoy": req.convoy,
        },
    }


def _whose(obj: dict[str, Any], req: DispatchRequest) -> str:
    """`ours` (an earlier try of this dispatch), `predecessor` (a deleted convoy of the same
    name left it, on its way out) or `other`."""
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    if labels.get(ids.LABEL_CONVOY) != req.convoy or labels.get(ids.LABEL_BEAD) != req.bead_id:
        return "other"
    owners = {o.get("uid") for o in meta.get("ownerReferences") or []}
    return "ours" if req.convoy_uid in owners else "predecessor"


# ---------------------------------------------------------------------------- Temporal side
@activity.defn(name=c.NUKE_POLECATS)
async def nuke_polecats(req: NukePolecats) -> list[str]:
    """Send each polecat's workflow the nuke Update, waiting only until it is accepted (the
    polecat then deletes its pod and reports Terminated to its convoy). The IDs nuked;
    one already finished or gone is skipped."""
    client = activity.client()
    nuked = []
    for wid in req.workflow_ids:
        try:
            await client.get_workflow_handle(wid).start_update(
                c.UPDATE_NUKE,
                NukeRequest(reason=req.reason),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
        except WorkflowUpdateFailedError:
            continue  # refused by its validator: it already finished
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            continue
        nuked.append(wid)
    return nuked


@activity.defn(name=c.POLECAT_REPORTS)
async def polecat_reports(workflow_ids: list[str]) -> list[PolecatReport]:
    """For the workflows among these that closed: the report they would have signalled, from
    their result or their failure. Running ones are left out."""
    client = activity.client()
    reports = []
    for wid in workflow_ids:
        _, name = ids.parse_polecat_workflow_id(wid)
        handle = client.get_workflow_handle(wid, result_type=PolecatResult)
        base = PolecatReport(workflow_id=wid, polecat=name, bead_id="", phase=PolecatPhase.FAILED)
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            reports.append(
                base.model_copy(
                    update={"reason": "WorkflowNotFound", "message": f"workflow {wid} not found"}
                )
            )
            continue
        if desc.status in (None, WorkflowExecutionStatus.RUNNING):
            continue
        base = base.model_copy(
            update={"bead_id": desc.typed_search_attributes.get(c.SA_BEAD) or ""}
        )
        reports.append(await _closed_report(handle, desc.status, base))
    return reports


async def _closed_report(
    handle: WorkflowHandle[Any, PolecatResult], status: WorkflowExecutionStatus, base: PolecatReport
) -> PolecatReport:
    if status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result()
        return base.model_copy(
            update={
                "phase": result.phase,
                "outcome": result.outcome,
                "reason": result.reason,
                "message": result.message,
                "branch": result.branch,
                "pull_request_url": result.pull_request_url,
                "agent_cost_usd": result.agent_cost_usd,
                "attempts": result.attempts,
            }
        )
    if status == WorkflowExecutionStatus.FAILED:
        try:
            await handle.result()
        except WorkflowFailureError as exc:
            cause = exc.cause
            kind = cause.type if isinstance(cause, ApplicationError) else None
            text = cause.message if isinstance(cause, ApplicationError) else str(cause)
            return base.model_copy(update={"reason": kind or "Failed", "message": text})
        return base.model_copy(update={"reason": "Failed"})
    if status in (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.CANCELED):
        return base.model_copy(
            update={
                "phase": PolecatPhase.TERMINATED,
                "reason": "Terminated",
                "message": f"its workflow was {status.name.lower()}",
            }
        )
    return base.model_copy(update={"reason": status.name.title().replace("_", "")})
