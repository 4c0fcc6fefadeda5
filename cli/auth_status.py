"""`kubectl gt auth status` and `auth refresh`: what may be said about credentials Secrets.

Status reads the Secrets labelled as credentials (the namespace, or all with -A, plus one
named with --secret), describes each with gastown.api.auth.describe — kind, mode, expiry,
last sync, last refresh — and who uses it: the rigs whose polecat defaults name it, and the
polecats of its namespace (their own claudeCredsSecretRef, else their rig's) that wait for
credentials or work. The data is decoded only to be described; only the description is
printed, never a token, and no error message carries one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import typer

from gastown.api.auth import (
    LABEL_CREDENTIALS,
    AuthMode,
    CredentialKind,
    CredentialsInfo,
    decoded,
    describe,
)
from gastown.api.identity import credentials_workflow_id
from gastown.api.polecat import PolecatPhase
from gastown.cli.output import Column, table
from gastown.cli.session import Failure, Session, any_dict

USING = {
    PolecatPhase.WAITING_FOR_CREDENTIALS.value: "waiting",
    PolecatPhase.WORKING.value: "working",
}


def span(seconds: float) -> str:
    """3h12m, 2d4h, 5m, <1m."""
    s = int(abs(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else "<1m"


def expires_text(info: CredentialsInfo | None, now: datetime) -> str:
    if info is None:
        return "-"
    if info.expires_at is None:
        return "unknown" if info.kind == CredentialKind.LONG_LIVED_TOKEN else "never"
    left = (info.expires_at - now).total_seconds()
    return f"in {span(left)}" if left > 0 else f"EXPIRED {span(left)} ago"


def ago(when: datetime | None, now: datetime) -> str:
    return "-" if when is None else f"{span((now - when).total_seconds())} ago"


@dataclass
class Row:
    namespace: str
    name: str
    info: CredentialsInfo | None
    rigs: list[str]
    polecats: Counter[str]
    labelled: bool = True

    def cells(self, now: datetime) -> dict[str, Any]:
        info = self.info
        users = ", ".join(f"{n} {what}" for what, n in sorted(self.polecats.items()))
        return {
            "NAMESPACE": self.namespace,
            "SECRET": self.name,
            "KIND": info.kind.value if info else "<none>",
            "MODE": info.mode.value if info else "-",
            "EXPIRES": expires_text(info, now),
            "LAST SYNC": ago(info.synced_at if info else None, now),
            "LAST REFRESH": ago(info.refreshed_at if info else None, now),
            "RIGS": ",".join(self.rigs) or "-",
            "POLECATS": users or "-",
        }


HEADERS = (
    "NAMESPACE",
    "SECRET",
    "KIND",
    "MODE",
    "EXPIRES",
    "LAST SYNC",
    "LAST REFRESH",
    "RIGS",
    "POLECATS",
)


def _ref(spec: Mapping[str, Any]) -> str | None:
    name = any_dict(spec.get("claudeCredsSecretRef")).get("name")
    return str(name) if name else None


def rig_refs(rigs: list[dict[str, Any]]) -> dict[str, str]:
    """Rig name -> the credentials Secret its polecat defaults name."""
    out = {}
    for rig in rigs:
        defaults = any_dict(
            any_dict(any_dict(rig.get("spec")).get("settings")).get("polecatDefaults")
        )
        ref = _ref(defaults)
        if ref:
            out[str(rig["metadata"]["name"])] = ref
    return out


def polecat_users(
    polecats: list[dict[str, Any]], by_rig: Mapping[str, str]
) -> dict[tuple[str, str], Counter[str]]:
    """(namespace, secret) -> {"waiting": n, "working": m} of the polecats using it now."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for polecat in polecats:
        what = USING.get(str(any_dict(polecat.get("status")).get("phase") or ""))
        if what is None:
            continue
        spec = any_dict(polecat.get("spec"))
        ref = _ref(any_dict(spec.get("kubernetes"))) or by_rig.get(str(spec.get("rig") or ""))
        if ref:
            key = (str(polecat["metadata"]["namespace"]), ref)
            out.setdefault(key, Counter())[what] += 1
    return out


def next_step(row: Row) -> str:
    info = row.info
    if info is None:
        return "run `kubectl gt auth sync --force`"
    if info.kind == CredentialKind.LONG_LIVED_TOKEN:
        return "run `claude setup-token`, then `kubectl gt auth sync --setup-token --force`"
    if info.mode == AuthMode.KEEPER:
        return "run `claude /login`, then `kubectl gt auth sync --handover --force`"
    return "run `claude /login`, then `kubectl gt auth sync --force`"


def show(session: Session, named: str | None, all_namespaces: bool) -> int:
    from gastown.kube import POLECATS, RIGS, SECRETS, Forbidden, NotFound, reading

    client = session.client
    where = None if all_namespaces else session.namespace
    secrets = client.run_sync(reading.items(SECRETS, where, label_selector=LABEL_CREDENTIALS))
    try:
        by_rig = rig_refs(client.run_sync(reading.items(RIGS)))
    except Forbidden:
        by_rig = {}
    try:
        users = polecat_users(client.run_sync(reading.items(POLECATS, where)), by_rig)
    except Forbidden:
        users = {}
    known = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in secrets}
    # Unlabelled Secrets in use (an older sync, or made with kubectl) are shown too, with a
    # warning: the watcher does not see them change.
    wanted = {(ns, name) for ns, name in users if all_namespaces or ns == session.namespace}
    if not all_namespaces:
        wanted |= {(session.namespace, ref) for ref in by_rig.values()}
    if named is not None:
        wanted.add((session.namespace, named))
    missing: str | None = None
    for ns, name in sorted(wanted - known):
        try:
            secrets.append(client.run_sync(reading.get(SECRETS, name, ns)))
        except NotFound:
            if name == named and ns == session.namespace:
                missing = named
    rows = sorted(
        (
            Row(
                namespace=str(s["metadata"]["namespace"]),
                name=str(s["metadata"]["name"]),
                info=describe(
                    decoded(any_dict(s.get("data"))), any_dict(s["metadata"].get("annotations"))
                ),
                rigs=sorted(r for r, ref in by_rig.items() if ref == s["metadata"]["name"]),
                polecats=users.get((str(s["metadata"]["namespace"]), str(s["metadata"]["name"])))
                or Counter(),
                labelled=LABEL_CREDENTIALS in any_dict(s["metadata"].get("labels")),
            )
            for s in secrets
        ),
        key=lambda r: (r.namespace, r.name),
    )
    del secrets  # the data is not needed past the description
    now = datetime.now(UTC)
    headers = HEADERS if all_namespaces else HEADERS[1:]
    columns = [Column(h, itemgetter(h)) for h in headers]
    if rows:
        typer.echo(table([r.cells(now) for r in rows], columns, wide=False))
    code = 0
    for row in rows:
        label = f"Secret {row.name!r} in {row.namespace!r}"
        if row.info is None:
            typer.echo(f"error: {label} holds no Claude credentials: {next_step(row)}", err=True)
            code = 1
        elif row.info.expired(now):
            typer.echo(f"error: {label} has expired: {next_step(row)}", err=True)
            code = 1
        if not row.labelled:
            typer.echo(
                f"warning: {label} is not labelled {LABEL_CREDENTIALS}: the watcher does not "
                "see it change, so waiting polecats resume late; run `kubectl gt auth sync "
                f"--secret {row.name} --force` or `kubectl label secret {row.name} "
                f"{LABEL_CREDENTIALS}=true`",
                err=True,
            )
    if missing is not None:
        typer.echo(
            f"error: Secret {missing!r} not found in {session.namespace!r}: run "
            f"`kubectl gt auth sync --secret {missing}`",
            err=True,
        )
        code = 1
    elif not rows:
        scope = "any namespace" if all_namespaces else f"namespace {session.namespace!r}"
        typer.echo(
            f"error: no credentials Secret in {scope}: run `kubectl gt auth sync` "
            "(or `claude setup-token` and `kubectl gt auth sync --setup-token`)",
            err=True,
        )
        code = 1
    return code


async def refresh_now(session: Session, secret: str) -> str | None:
    """The keeper's `refresh` Update; a line for the user, or None when no keeper runs."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from gastown.workflows import contract as c
    from gastown.workflows.messages import RefreshOrder, RefreshResult

    temporal = await session.temporal()
    handle = temporal.get_workflow_handle(credentials_workflow_id(session.namespace, secret))
    order = RefreshOrder(valid_for_seconds=0, force=True)  # now, whatever the expiry
    try:
        result: RefreshResult = await handle.execute_update(
            c.UPDATE_REFRESH, order, result_type=RefreshResult
        )
    except WorkflowUpdateFailedError as exc:
        raise Failure(f"the keeper of {secret!r} could not refresh: {exc.cause or exc}") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise Failure(f"asking the keeper of {secret!r} failed: {exc}") from None
    if result.mode != AuthMode.KEEPER.value:
        return (
            f"Secret {secret} is in replica mode: the cluster does not refresh it; run "
            "`kubectl gt auth sync --force` where you logged in"
        )
    until = f"{result.expires_at:%Y-%m-%d %H:%M}Z" if result.expires_at else "no expiry known"
    done = "refreshed" if result.refreshed else "not refreshed (still fresh)"
    return f"Secret {secret}: {done}, valid until {until}"
