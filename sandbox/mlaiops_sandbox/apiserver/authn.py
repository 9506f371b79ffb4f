"""Authentication: ServiceAccount tokens from the TokenRequest API, and impersonation headers.

Like kube-apiserver, ``POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`` (what
``kubectl create token`` calls) issues a token bound to the account's uid, with audiences and an
expiry; a request carrying it as ``Authorization: Bearer`` acts as
``system:serviceaccount:<ns>:<name>`` in the groups ``system:serviceaccounts``,
``system:serviceaccounts:<ns>`` and ``system:authenticated``. A deleted (or re-created) account, an
expired token or one for another audience gets 401 Unauthorized.

Differences from the real server: tokens are opaque random strings (not signed JWTs) and live in
memory only; requests without a token act as the cluster admin (``system:admin`` in
``system:masters``) because the sandbox's kubeconfig carries no credentials, where a real server
would treat them as ``system:anonymous``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError, invalid

SA_PREFIX = "system:serviceaccount:"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SUPERUSERS = "system:masters"
AUDIENCE = "https://kubernetes.default.svc.cluster.local"  # the server's --api-audiences
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32
SERVICEACCOUNTS = ("", "serviceaccounts")


@dataclass(frozen=True)
class User:
    """Who a request acts as (user.Info)."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """The UserInfo shape of reviews (SelfSubjectReview, TokenReview)."""
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {key: list(values) for key, values in self.extra.items()}
        return out


ADMIN = User("system:admin", (SUPERUSERS, AUTHENTICATED))


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")


def service_account_user(namespace: str, name: str, uid: str = "") -> User:
    return User(f"{SA_PREFIX}{namespace}:{name}", (*service_account_groups(namespace), AUTHENTICATED), uid)


def split_service_account(username: str) -> tuple[str, str] | None:
    """``system:serviceaccount:<ns>:<name>`` -> (ns, name); None for any other user name."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX) :].split(":")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def unauthorized() -> ApiError:
    """The real server says no more than this, whatever was wrong with the credentials."""
    return ApiError(401, "Unauthorized")


@dataclass(frozen=True)
class Grant:
    namespace: str
    name: str
    uid: str
    audiences: tuple[str, ...]
    expires: float


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Tokens:
    """Issued tokens, checked against the live ServiceAccount on every request."""

    def __init__(self, lookup: Callable[[str, str], dict[str, Any] | None]) -> None:
        self._lookup = lookup  # (namespace, name) -> the stored ServiceAccount or None
        self._grants: dict[str, Grant] = {}

    def request(self, account: dict[str, Any], body: Any) -> dict[str, Any]:
        """Serve a TokenRequest for ``account``: validate the spec, issue, and echo it with status."""
        meta = account["metadata"]
        spec = (body.get("spec") if isinstance(body, dict) else None) or {}
        seconds = spec.get("expirationSeconds")
        seconds = DEFAULT_EXPIRATION if seconds is None else seconds
        if not isinstance(seconds, int) or seconds < MIN_EXPIRATION or seconds > MAX_EXPIRATION:
            small = isinstance(seconds, int) and seconds < MIN_EXPIRATION
            problem = "less than 10 minutes" if small else "larger than 2^32 seconds"
            cause = {
                "reason": "FieldValueInvalid",
                "field": "spec.expirationSeconds",
                "message": f"Invalid value: {seconds}: may not specify a duration {problem}",
            }
            raise invalid("TokenRequest", "authentication.k8s.io", meta["name"], [cause])
        audiences = tuple(spec.get("audiences") or (AUDIENCE,))
        token = secrets.token_urlsafe(32)
        expires = time.time() + seconds
        self._grants[token] = Grant(meta["namespace"], meta["name"], meta.get("uid", ""), audiences, expires)
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": None},
            "spec": {"audiences": list(audiences), "expirationSeconds": seconds, "boundObjectRef": None},
            "status": {"token": token, "expirationTimestamp": _timestamp(expires)},
        }

    def review(self, token: str, audiences: tuple[str, ...] = (AUDIENCE,)) -> User | None:
        """The token's user if it is live, unexpired, meant for one of ``audiences`` and its account
        still exists with the same uid (tokens are bound to the account object)."""
        grant = self._grants.get(token)
        if grant is None or grant.expires <= time.time() or not set(grant.audiences) & set(audiences):
            return None
        account = self._lookup(grant.namespace, grant.name)
        if account is None or account["metadata"].get("uid", "") != grant.uid:
            return None
        return service_account_user(grant.namespace, grant.name, grant.uid)

    def authenticate(self, headers: Mapping[str, str]) -> User:
        """A request's user: admin without credentials, the token's account with one, else 401."""
        header = headers.get("Authorization", "")
        if not header:
            return ADMIN
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        user = self.review(token.strip())
        if user is None:
            raise unauthorized()
        return user


def impersonation(headers: Any) -> tuple[str | None, list[str], str | None, dict[str, tuple[str, ...]]]:
    """The Impersonate-* headers: user, groups, uid, extra."""
    user = headers.get("Impersonate-User")
    groups = list(headers.getall("Impersonate-Group", [])) if hasattr(headers, "getall") else []
    uid = headers.get("Impersonate-Uid")
    extra: dict[str, list[str]] = {}
    for key, value in headers.items():
        if key.lower().startswith("impersonate-extra-"):
            extra.setdefault(key[len("impersonate-extra-") :].lower(), []).append(value)
    return user, groups, uid, {key: tuple(values) for key, values in extra.items()}


def impersonated(name: str, groups: list[str], uid: str | None, extra: dict[str, tuple[str, ...]]) -> User:
    """The user an allowed impersonation acts as, with the groups the real server adds."""
    account = split_service_account(name)
    effective = list(groups)
    if not effective and account is not None:
        effective = list(service_account_groups(account[0]))
    if name != ANONYMOUS and AUTHENTICATED not in effective and UNAUTHENTICATED not in effective:
        effective.append(AUTHENTICATED)
    return User(name, tuple(effective), uid or "", extra)
