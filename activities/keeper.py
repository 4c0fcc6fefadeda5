"""The keeper's side effects: refresh a keeper-mode session and store it; look at a Secret.

`refresh_session` is the only place the cluster refreshes a `claude /login` session, called by
the Secret's one CredentialsWorkflow, which never runs two at once. A refresh token rotates on
use, so the order is strict: read the Secret, POST, then STORE the rotated session (a replace
guarded by the resourceVersion just read) before returning — a keeper killed after the store
loses nothing, since the next refresh reads the stored token. A retry after the store finds
the session fresh and does not POST again. Tokens never leave this module: results carry the
version and expiry only; errors name the Secret, never a value.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from gastown.activities import oauth
from gastown.activities.errors import permanent
from gastown.api import auth
from gastown.kube import (
    SECRETS,
    Conflict,
    Kube,
    KubeError,
    NotFound,
    Unavailable,
    reading,
    writing,
)
from gastown.runtime import redact
from gastown.workflows import contract as c
from gastown.workflows.messages import CredentialsRef, RefreshRequest, RefreshResult, SecretLook

HANDOVER_HINT = auth.HANDOVER_HINT
# Replaces after a Conflict before giving up (each one means another writer got in between).
STORE_TRIES = 5
# After the POST, the store tries this long at most (an unavailable API server): well inside
# REFRESH_TIMEOUT (120 s) minus the POST's own 20 s, so the activity never times out with the
# rotated token unstored and Temporal's retry never POSTs the dead refresh token.
STORE_SECONDS = 60.0


def _session(secret: dict[str, Any]) -> tuple[str | None, auth.Session | None]:
    """The key holding the session document and the session, if any."""
    data = auth.decoded(secret.get("data"))
    session = auth.session_in(data)
    if session is not None:
        # Registered the moment they are read: any log line quoting them shows ***.
        redact.register(session.access_token)
        redact.register(session.refresh_token)
    return auth.session_key(data), session


def _state(secret: dict[str, Any], refreshed: bool = False) -> RefreshResult:
    meta = secret["metadata"]
    notes = meta.get("annotations") or {}
    info = auth.describe(auth.decoded(secret.get("data")), notes)
    return RefreshResult(
        refreshed=refreshed,
        version=str(meta["resourceVersion"]),
        mode=auth.mode_of(notes).value,
        expires_at=info.expires_at if info else None,
    )


def rejected(message: str, version: str) -> ApplicationError:
    """REFRESH_REJECTED, permanent; the Secret's version rides along as the error's detail,
    so the workflow knows at which version the session died (never a token)."""
    return ApplicationError(message, version, type=c.REFRESH_REJECTED, non_retryable=True)


def lost(where: str, why: str, version: str) -> ApplicationError:
    """After a successful POST the refresh token used is dead: a store that failed lost the
    session, and a retry would only POST the dead token again (a server with reuse detection
    then revokes the whole session). Permanent, with the one next step; `why` names the kind
    of failure, never the API server's text (it may echo what it refused)."""
    return ApplicationError(
        f"{where}: the refreshed session could not be stored ({why}); the refresh token it "
        f"replaced is spent, so the session is lost: {HANDOVER_HINT}",
        version,
        type=c.SESSION_LOST,
        non_retryable=True,
    )


class KeeperActivities:
    def __init__(
        self, kube: Kube, config: oauth.OAuthConfig, store_seconds: float = STORE_SECONDS
    ) -> None:
        self.kube = kube
        self.config = config
        self.store_seconds = store_seconds

    async def _read(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            return await self.kube.run(reading.get(SECRETS, name, namespace))
        except NotFound as exc:
            raise permanent(
                c.MISSING_SECRET,
                f"Secret {name!r} (Claude credentials) not found in namespace {namespace!r}: "
                f"{HANDOVER_HINT}",
            ) from exc

    @activity.defn(name=c.SECRET_VERSION)
    async def secret_version(self, ref: CredentialsRef) -> SecretLook:
        """The Secret's version, mode and expiry (None version: it does not exist)."""
        secret = await self.kube.run(reading.get_or_none(SECRETS, ref.secret, ref.namespace))
        margin = self.config.refresh_margin_seconds
        if secret is None:
            return SecretLook(refresh_margin_seconds=margin)
        state = _state(secret)
        notes = secret["metadata"].get("annotations") or {}
        return SecretLook(
            version=state.version,
            mode=state.mode,
            expires_at=state.expires_at,
            refreshed_at=auth.parse_time(notes.get(auth.ANNOTATION_REFRESHED_AT)),
            refresh_margin_seconds=margin,
        )

    @activity.defn(name=c.REFRESH_SESSION)
    async def refresh_session(self, req: RefreshRequest) -> RefreshResult:
        where = f"Secret {req.namespace}/{req.secret}"
        secret = await self._read(req.namespace, req.secret)
        state = _state(secret)
        if state.mode != auth.AuthMode.KEEPER:
            return state  # replica: the laptop owns the session; the cluster never refreshes
        key, session = _session(secret)
        if session is None:
            if (
                state.expires_at is None
                and auth.describe(auth.decoded(secret.get("data")), None) is not None
            ):
                return state  # a long-lived token: nothing to refresh
            raise rejected(f"{where} holds no Claude session: {HANDOVER_HINT}", state.version)
        fresh = session.expires_at is None or session.expires_at >= req.valid_until
        if fresh and state.version != req.rejected_version:
            return state
        if not session.refresh_token:
            raise rejected(
                f"{where} holds a session without a refresh token: {HANDOVER_HINT}",
                state.version,
            )
        try:
            answer = await oauth.refresh(self.config, session.refresh_token)
        except oauth.RefreshRejected as exc:
            raise rejected(f"{where}: {exc}; {HANDOVER_HINT}", state.version) from None
        except oauth.TokenEndpointError as exc:
            raise ApplicationError(
                f"{where} not refreshed: {exc}", non_retryable=not exc.retryable
            ) from None
        redact.register(answer.access_token)
        redact.register(answer.refresh_token)
        now = datetime.now(UTC)
        new = auth.rotated(
            session,
            answer.access_token,
            answer.refresh_token,
            now + timedelta(seconds=answer.expires_in),
        )
        return await self._store(req, secret, key or auth.SESSION_KEY, session, new, now)

    async def _store(
        self,
        req: RefreshRequest,
        secret: dict[str, Any],
        key: str,
        used: auth.Session,
        new: auth.Session,
        now: datetime,
    ) -> RefreshResult:
        """Store the rotated session on the version read. On Conflict read again: the token we
        used still there (someone wrote an annotation, say) -> write again on the new version;
        another session there (a new handover) -> keep theirs, and say so."""
        where = f"Secret {req.namespace}/{req.secret}"
        deadline = time.monotonic() + self.store_seconds
        pause = 1.0
        why = "conflicts"
        for _ in range(STORE_TRIES):
            body = _with_session(secret, key, new, now)
            try:
                stored = await self.kube.run(writing.replace(SECRETS, body, req.namespace))
            except Unavailable:
                # The rotated token lives only in this process until stored: try harder than
                # other calls, while the deadline allows.
                why = "the API server unavailable"
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(pause, left))
                pause *= 2
                continue
            except Conflict:
                why = "conflicts"
                try:
                    secret = await self.kube.run(reading.get(SECRETS, req.secret, req.namespace))
                except KubeError as exc:
                    raise lost(where, _kind(exc), _version(secret)) from None
                key_now, current = _session(secret)
                if current is not None and current.access_token == new.access_token:
                    return _state(secret, refreshed=True)  # our own write, its answer lost
                if current is None or current.refresh_token != used.refresh_token:
                    activity.logger.warning(
                        "%s changed while it was refreshed (a new handover?): keeping its "
                        "session, dropping ours",
                        where,
                    )
                    return _state(secret)
                key = key_now or key
                continue
            except KubeError as exc:
                raise lost(where, _kind(exc), _version(secret)) from None
            activity.logger.info(
                "refreshed the session in %s; it expires at %s",
                where,
                auth.format_time(new.expires_at or now),
            )
            return _state(stored, refreshed=True)
        raise lost(where, why, _version(secret))


def _version(secret: dict[str, Any]) -> str:
    return str(secret["metadata"]["resourceVersion"])


def _kind(exc: KubeError) -> str:
    """A Kubernetes error said by its kind only: its text may echo the body it refused."""
    return "the Secret is gone" if isinstance(exc, NotFound) else type(exc).__name__


def _with_session(
    secret: dict[str, Any], key: str, session: auth.Session, now: datetime
) -> dict[str, Any]:
    """The Secret as read, with the session document replaced and the refresh annotated; its
    resourceVersion stays, so the replace fails if anything wrote since the read."""
    meta = dict(secret["metadata"])
    notes = dict(meta.get("annotations") or {})
    notes[auth.ANNOTATION_REFRESHED_AT] = auth.format_time(now)
    if session.expires_at is not None:
        notes[auth.ANNOTATION_EXPIRES_AT] = auth.format_time(session.expires_at)
    meta["annotations"] = notes
    data = dict(secret.get("data") or {})
    data[key] = base64.b64encode(auth.session_document(session).encode()).decode()
    return {**secret, "metadata": meta, "data": data}
