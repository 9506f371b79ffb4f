"""The server's access control filters: who a request is (authentication, impersonation) and
whether it may proceed (RBAC), in the order kube-apiserver applies them.

The server calls ``identify`` first on every request (401 for bad credentials, 403 for an
impersonation the caller may not do), ``check_path`` for non-resource URLs (discovery, /version,
/openapi, the sandbox admin API) and ``check_resource`` once a resource URL is parsed; both raise
403 Forbidden. Requests without credentials are the cluster admin (see authn.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .authn import SERVICEACCOUNTS, Tokens, User, impersonated, impersonation, split_service_account
from .errors import ApiError, bad_request
from .rbac import Attributes, Authorizer

USER_KEY = web.RequestKey("user", User)


def name_from_field_selector(selector: str | None) -> str:
    """A list or watch restricted to one ``metadata.name`` is authorized for that name (resourceNames)."""
    for term in (selector or "").split(","):
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and key.strip() == "metadata.name" and not key.strip().endswith("!"):
            return value.strip()
    return ""


class Access:
    """Tokens plus the RBAC authorizer over the cluster's stored roles and bindings."""

    def __init__(self, store: Any) -> None:
        self.tokens = Tokens(lambda ns, name: store.get(SERVICEACCOUNTS, ns, name))
        self.authorizer = Authorizer(store.get, store.list)

    def identify(self, request: web.Request) -> User:
        """Authenticate, then apply Impersonate-* headers if the caller may impersonate."""
        user = self.tokens.authenticate(request.headers)
        name, groups, uid, extra = impersonation(request.headers)
        if name is None:
            if groups or uid or extra:
                raise bad_request("requested impersonation of groups or extra fields without impersonating a user")
            request[USER_KEY] = user
            return user
        account = split_service_account(name)
        checks = [
            Attributes(user, "impersonate", resource="serviceaccounts", namespace=account[0], name=account[1])
            if account
            else Attributes(user, "impersonate", resource="users", name=name)
        ]
        checks += [Attributes(user, "impersonate", resource="groups", name=group) for group in groups]
        if uid:
            checks.append(Attributes(user, "impersonate", group="authentication.k8s.io", resource="uids", name=uid))
        checks += [
            Attributes(
                user, "impersonate", group="authentication.k8s.io", resource="userextras", subresource=key, name=v
            )
            for key, values in extra.items()
            for v in values
        ]
        for attrs in checks:
            self.authorizer.check(attrs)
        acting = impersonated(name, groups, uid, extra)
        request[USER_KEY] = acting
        return acting

    def check_path(self, request: web.Request, path: str) -> None:
        user = request[USER_KEY]
        verb = request.method.lower()
        self.authorizer.check(Attributes(user, verb, resource_request=False, path=path))

    def check_resource(self, request: web.Request, verb: str, target: Any) -> None:
        name = target.name or ""
        if not name and verb in ("list", "watch"):
            name = name_from_field_selector(request.query.get("fieldSelector"))
        attrs = Attributes(
            request[USER_KEY],
            verb,
            group=target.group,
            resource=target.plural,
            subresource=target.subresource or "",
            namespace=target.namespace or "",
            name=name,
        )
        self.authorizer.check(attrs)


def user_of(request: web.Request) -> User:
    user = request.get(USER_KEY)
    if user is None:
        raise ApiError(500, "request was not authenticated")
    return user
