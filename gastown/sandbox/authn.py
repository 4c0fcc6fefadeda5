"""Who is calling: the kubeconfig's admin token and ServiceAccount tokens (TokenRequest).

The admin is `kubernetes-admin` in `system:masters`, as kubeadm's admin.conf user is, so every
existing client of the sandbox keeps being allowed everything. ServiceAccount tokens are issued
by TokenRequest (`POST .../serviceaccounts/<sa>/token`, what `kubectl create token` calls) as
JWTs signed with the sandbox's own key, and checked as the apiserver checks bound tokens:
signature, expiry, and that the ServiceAccount still exists with the same uid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "kubernetes-admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 48 * 3600


@dataclass(frozen=True)
class UserInfo:
    """user.Info: name, uid, groups, extra."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_master(self) -> bool:
        return MASTERS in self.groups

    def to_json(self) -> JSON:
        out: JSON = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ADMIN = UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))
# The sandbox's own controllers (kubelet, garbage collector) act with no request: as the system.
SYSTEM = UserInfo("system:apiserver", (MASTERS, AUTHENTICATED))


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    return UserInfo(
        f"{SA_PREFIX}{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        uid,
    )


def split_service_account(username: str) -> tuple[str, str] | None:
    """`system:serviceaccount:<ns>:<name>` -> (ns, name); None for other users."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX) :].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """Issues and verifies ServiceAccount JWTs (HS256 with a per-sandbox key)."""

    def __init__(self, admin_token: str | None, key: bytes | None = None) -> None:
        self.admin_token = admin_token
        self._key = key or secrets.token_bytes(32)

    def issue(
        self,
        namespace: str,
        name: str,
        sa_uid: str,
        expiration_seconds: int,
        audiences: list[str],
        now: float | None = None,
    ) -> tuple[str, int]:
        """A signed token and its expiry (seconds since the epoch)."""
        issued = int(now if now is not None else time.time())
        expires = issued + expiration_seconds
        claims = {
            "aud": audiences or [ISSUER],
            "exp": expires,
            "iat": issued,
            "nbf": issued,
            "iss": ISSUER,
            "jti": secrets.token_hex(8),
            "sub": f"{SA_PREFIX}{namespace}:{name}",
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": sa_uid},
            },
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}", expires

    def claims(self, token: str, now: float | None = None) -> JSON | None:
        """The verified claims of one of our tokens, or None (bad signature, expired, foreign)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            expected = hmac.new(
                self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
            ).digest()
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError):
            return None
        if not isinstance(claims, dict):
            return None
        if int(claims.get("exp", 0)) <= (now if now is not None else time.time()):
            return None
        return claims

    def is_admin(self, token: str) -> bool:
        return self.admin_token is not None and hmac.compare_digest(
            token.encode(), self.admin_token.encode()
        )
