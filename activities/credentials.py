"""check_credentials: fail before any pod exists when a Secret or one of its keys is missing.

An expired Claude session is not a failure here: the polecat's credentials gate (issue_pod_token
in podauth.py) parks the polecat until the Secret is fresh again.

Only the fields needed for the verdict are decoded (key names, the OAuth expiry); the
credentials themselves never leave this function: not in the result, not in an error.
"""

from __future__ import annotations

import base64

from temporalio import activity

from gastown.activities.errors import permanent
from gastown.api import auth
from gastown.kube import Kube, NotFound, reading
from gastown.workflows import contract as c
from gastown.workflows.messages import CredentialReport, Resolved

SSH_KEYS = ("ssh-privatekey", "id_ed25519", "id_ecdsa", "id_rsa", "identity")
HTTPS_KEYS = ("token", "password")
CLAUDE_FILES = auth.SESSION_KEYS
TOKEN_KEY = auth.TOKEN_KEY
SYNC_HINT = auth.SYNC_HINT


class CredentialActivities:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def _secret(self, namespace: str, name: str, purpose: str, create: str) -> dict[str, str]:
        try:
            return await self.kube.run(reading.secret_data(namespace, name))
        except NotFound as exc:
            raise permanent(
                c.MISSING_SECRET,
                f"Secret {name!r} ({purpose}) not found in namespace {namespace!r}: {create}",
            ) from exc

    @activity.defn(name=c.CHECK_CREDENTIALS)
    async def check_credentials(self, r: Resolved) -> CredentialReport:
        ns = r.namespace
        if r.git_secret:
            data = await self._secret(
                ns,
                r.git_secret,
                "git credentials",
                f"kubectl create secret generic {r.git_secret} -n {ns} "
                "--from-file=ssh-privatekey=$HOME/.ssh/id_ed25519",
            )
            wanted = SSH_KEYS if not r.repo_url.startswith("https://") else HTTPS_KEYS
            if not any(k in data for k in wanted):
                raise permanent(
                    c.MISSING_SECRET,
                    f"Secret {r.git_secret!r} has none of the keys {', '.join(wanted)} needed "
                    f"for {r.repo_url}",
                )
        if r.forge_token_secret:
            data = await self._secret(
                ns, r.forge_token_secret.name, "forge token", "create it with the token's key"
            )
            if r.forge_token_secret.key not in data:
                raise permanent(
                    c.MISSING_SECRET,
                    f"Secret {r.forge_token_secret.name!r} has no key {r.forge_token_secret.key!r}",
                )
        if r.claude_creds_secret:
            data = await self._secret(ns, r.claude_creds_secret, "Claude credentials", SYNC_HINT)
            name = next((f for f in CLAUDE_FILES if f in data), None)
            if name is None:
                if data.get(TOKEN_KEY):
                    return CredentialReport(kind="oauth-token")
                raise permanent(
                    c.MISSING_SECRET,
                    f"Secret {r.claude_creds_secret!r} holds neither .credentials.json nor "
                    f"{TOKEN_KEY}: {SYNC_HINT}",
                )
            # An expired session is not refused here: the polecat's credentials gate parks
            # until the Secret is fresh again (see workflows/polecat.py).
            session = auth.parse_session(base64.b64decode(data[name]))
            return CredentialReport(
                kind="oauth", expires_at=session.expires_at if session else None
            )
        if r.api_key_secret:
            data = await self._secret(
                ns,
                r.api_key_secret.name,
                "Anthropic API key",
                f"kubectl create secret generic {r.api_key_secret.name} -n {ns} "
                f"--from-literal={r.api_key_secret.key}=…",
            )
            if r.api_key_secret.key not in data:
                raise permanent(
                    c.MISSING_SECRET,
                    f"Secret {r.api_key_secret.name!r} has no key {r.api_key_secret.key!r}",
                )
            return CredentialReport(kind="api-key")
        return CredentialReport(kind="none")
