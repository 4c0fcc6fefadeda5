"""issue_pod_token, ask_credentials, revoke_pod_token: the polecat's side of credentials.

A pod never sees the user's credentials Secret: before each pod, issue_pod_token reads it and,
when it holds a token valid long enough, writes the polecat's own Secret
(`polecat-<name>-auth`, owned by the Polecat) with that one access token and never a refresh
token (`gastown.api.auth.pod_secret_data`). When it cannot, it says so — REFRESH (keeper mode:
ask the keeper) or PARK (nothing fresh to be had) — and the workflow waits. Tokens never leave
these functions: results carry the Secret's resourceVersion and expiry times, error messages
name Secrets, never values.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from gastown.api import auth
from gastown.api import identity as ids
from gastown.api.crd import API_VERSION
from gastown.kube import SECRETS, Kube, KubeError, NotFound, reading, writing
from gastown.workflows import contract as c
from gastown.workflows.messages import (
    CredentialsAsk,
    CredentialsInput,
    PolecatRef,
    TokenGrant,
    TokenGrantKind,
    TokenRequest,
)

# A keeper session refreshed this recently is as fresh as the token endpoint makes them: it is
# handed out even when it ends before the pod's deadline (the pod's auth_expired path covers
# the rest). Asking the keeper again would only rotate it, once per look, for ever.
JUST_REFRESHED = timedelta(minutes=5)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}Z" if moment else "an unknown time"


def pod_secret(req: TokenRequest, data: dict[str, str]) -> dict[str, Any]:
    """The polecat's own Secret: the files its pods mount, owned by the Polecat (deleting the
    CR deletes it) and labelled as the polecat's."""
    r = req.resolved
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": ids.pod_auth_secret_name(r.name),
            "namespace": r.namespace,
            "labels": {ids.LABEL_POLECAT: r.name, ids.LABEL_MANAGED_BY: ids.MANAGED_BY},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "Polecat",
                    "name": r.name,
                    "uid": req.polecat.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


class PodAuthActivities:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    @activity.defn(name=c.ISSUE_POD_TOKEN)
    async def issue_pod_token(self, req: TokenRequest) -> TokenGrant:
        """READY (the polecat's own Secret now holds a token valid `valid_for_seconds`, or it
        needs none), REFRESH (keeper mode, not fresh enough) or PARK (with why and the next
        step). A Secret still at `rejected_version` is never fresh: a pod found that token
        refused."""
        r = req.resolved
        if not r.claude_creds_secret:
            # An API key (never expires) or no Claude credentials at all: nothing to issue.
            return TokenGrant(kind=TokenGrantKind.READY)
        name = r.claude_creds_secret
        try:
            secret = await self.kube.run(reading.get(SECRETS, name, r.namespace))
        except NotFound:
            return TokenGrant(
                kind=TokenGrantKind.PARK,
                secret=name,
                reason=c.MISSING_SECRET,
                message=f"the Claude credentials Secret {name!r} is gone from namespace "
                f"{r.namespace!r}: {auth.SYNC_HINT}",
            )
        meta = secret.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "") or None
        data = auth.decoded(secret.get("data"))
        info = auth.describe(data, meta.get("annotations"))
        base: dict[str, Any] = {"secret": name, "version": version}
        if info is None:
            return TokenGrant(
                kind=TokenGrantKind.PARK,
                **base,
                reason=c.MISSING_SECRET,
                message=f"Secret {name!r} holds no Claude credentials "
                f"({auth.SESSION_KEY} or {auth.TOKEN_KEY}): {auth.SYNC_HINT}",
            )
        base.update(credential_kind=info.kind.value, expires_at=info.expires_at)
        now = datetime.now(UTC)
        needed = now + timedelta(seconds=req.valid_for_seconds)
        rejected = req.rejected_version is not None and req.rejected_version == version
        fresh = not rejected and (
            info.expires_at is None or info.expires_at >= needed or self._just_refreshed(info, now)
        )
        if fresh:
            session = auth.session_in(data)
            token = None if session else data.get(auth.TOKEN_KEY, b"").decode(errors="replace")
            await self._write(req, auth.pod_secret_data(session, token.strip() if token else None))
            return TokenGrant(kind=TokenGrantKind.READY, **base)
        if info.kind == auth.CredentialKind.SESSION and info.mode == auth.AuthMode.KEEPER:
            return TokenGrant(kind=TokenGrantKind.REFRESH, **base)
        return TokenGrant(
            kind=TokenGrantKind.PARK,
            **base,
            reason=c.CREDENTIALS_EXPIRED,
            message=self._why(name, info, now, needed, rejected),
        )

    @staticmethod
    def _just_refreshed(info: auth.CredentialsInfo, now: datetime) -> bool:
        """A keeper session the keeper refreshed within JUST_REFRESHED, and not expired: a
        pod needing longer than the endpoint issues (a long deadline, an answer without
        expires_in) would otherwise ask for a refresh after every refresh."""
        return (
            info.mode == auth.AuthMode.KEEPER
            and info.refreshed_at is not None
            and now - info.refreshed_at < JUST_REFRESHED
            and not info.expired(now)
        )

    @staticmethod
    def _why(
        name: str, info: auth.CredentialsInfo, now: datetime, needed: datetime, rejected: bool
    ) -> str:
        what = (
            "long-lived Claude token"
            if info.kind == auth.CredentialKind.LONG_LIVED_TOKEN
            else "Claude session"
        )
        if rejected:
            state = "was refused by the model API (auth_expired)"
        elif info.expired(now):
            state = f"expired at {_when(info.expires_at)}"
        else:
            state = (
                f"expires at {_when(info.expires_at)}, before the pod's deadline ({_when(needed)})"
            )
        fix = (
            "create a new one with `claude setup-token` and store it in the Secret"
            if info.kind == auth.CredentialKind.LONG_LIVED_TOKEN
            else "run `claude /login` on your machine, then `kubectl gt auth sync --force`"
        )
        return f"the {what} in Secret {name!r} {state}: {fix}"

    async def _write(self, req: TokenRequest, data: dict[str, str]) -> None:
        """Create or replace the polecat's own Secret. A Kubernetes error is re-raised without
        its text (an API server may echo what it refused) and without a cause: the name only."""
        body = pod_secret(req, data)
        name = body["metadata"]["name"]
        try:
            await self.kube.run(writing.create_or_replace(SECRETS, body, req.resolved.namespace))
        except KubeError as exc:
            raise ApplicationError(
                f"writing Secret {name!r} failed ({type(exc).__name__})",
                type=type(exc).__name__,
            ) from None

    @activity.defn(name=c.REVOKE_POD_TOKEN)
    async def revoke_pod_token(self, ref: PolecatRef) -> bool:
        """Delete the polecat's own Secret; False when there was none (NotFound: done)."""
        name = ids.pod_auth_secret_name(ref.name)
        return await self.kube.run(writing.delete(SECRETS, name, ref.namespace))


@activity.defn(name=c.ASK_CREDENTIALS)
async def ask_credentials(ask: CredentialsAsk) -> None:
    """Tell the credentials Secret's workflow that this polecat waits (signal-with-start, by
    workflow type name: one per Secret, `credentials/<ns>/<secret>`). The answer comes back by
    signal (`credentials_changed`); nothing here waits on that workflow, and repeating it only
    replaces this polecat's entry there."""
    queue = activity.info().task_queue
    await activity.client().start_workflow(
        c.CREDENTIALS_WORKFLOW,
        CredentialsInput(namespace=ask.namespace, secret=ask.secret),
        id=ids.credentials_workflow_id(ask.namespace, ask.secret),
        task_queue=queue,
        start_signal=c.SIGNAL_CREDENTIALS_WANTED,
        start_signal_args=[ask.wanted],
    )
