"""The create-only APIs of authentication and authorization: TokenRequest (``serviceaccounts/token``),
SelfSubjectAccessReview (``kubectl auth can-i``), SelfSubjectRulesReview (``kubectl auth can-i --list``),
SubjectAccessReview, SelfSubjectReview (``kubectl auth whoami``) and TokenReview.

Like the real server, reviews are never stored: the request comes back with its ``status`` filled in
(201 Created). The registry lists them so discovery shows them to kubectl.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .access import Access, user_of
from .authn import User
from .errors import ApiError, invalid
from .rbac import Attributes, Rule

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"
Handler = Callable[[web.Request, Any, Any, str], Awaitable[web.StreamResponse]]


def _created(body: dict[str, Any]) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":")) + "\n", status=201, content_type="application/json"
    )


def _echo(kind: str, group: str, body: Any, status: dict[str, Any]) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    return {
        "kind": kind,
        "apiVersion": f"{group}/v1",
        "metadata": {**(body.get("metadata") or {}), "creationTimestamp": None},
        "spec": body.get("spec") or {},
        "status": status,
    }


def _attributes(kind: str, user: User, spec: dict[str, Any]) -> Attributes:
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(resource) == bool(non_resource):
        cause = {
            "reason": "FieldValueInvalid",
            "field": "spec.resourceAttributes",
            "message": 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
        }
        raise invalid(kind, AUTHZ, "", [cause])
    if non_resource:
        return Attributes(
            user, non_resource.get("verb") or "", resource_request=False, path=non_resource.get("path") or ""
        )
    return Attributes(
        user,
        resource.get("verb") or "",
        group=resource.get("group") or "",
        resource=resource.get("resource") or "",
        subresource=resource.get("subresource") or "",
        namespace=resource.get("namespace") or "",
        name=resource.get("name") or "",
    )


def _decision(access: Access, attrs: Attributes) -> dict[str, Any]:
    allowed, reason = access.authorizer.authorize(attrs)
    return {"allowed": allowed, **({"reason": reason} if reason else {})}


def _split(rules: list[Rule]) -> dict[str, Any]:
    resource_rules, url_rules = [], []
    for rule in rules:
        if rule.get("nonResourceURLs"):
            url_rules.append({"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]})
        if rule.get("resources"):
            entry = {key: rule.get(key) or [] for key in ("verbs", "apiGroups", "resources")}
            if rule.get("resourceNames"):
                entry["resourceNames"] = rule["resourceNames"]
            resource_rules.append(entry)
    return {"resourceRules": resource_rules, "nonResourceRules": url_rules}


def review_handlers(access: Access) -> dict[tuple[str, str], Handler]:
    """(group, plural) -> handler(request, server, target, verb) for every review kind."""

    async def body_of(request: web.Request, server: Any, verb: str) -> Any:
        if verb != "create":
            raise ApiError(405, "the server does not allow this method on the requested resource")
        return await server._body(request)

    async def self_access(request: web.Request, server: Any, _target: Any, verb: str) -> web.StreamResponse:
        body = await body_of(request, server, verb)
        attrs = _attributes("SelfSubjectAccessReview", user_of(request), (body or {}).get("spec") or {})
        return _created(_echo("SelfSubjectAccessReview", AUTHZ, body, _decision(access, attrs)))

    async def subject_access(request: web.Request, server: Any, _target: Any, verb: str) -> web.StreamResponse:
        body = await body_of(request, server, verb)
        spec = (body or {}).get("spec") or {}
        extra = {key: tuple(values) for key, values in (spec.get("extra") or {}).items()}
        user = User(spec.get("user") or "", tuple(spec.get("groups") or ()), spec.get("uid") or "", extra)
        attrs = _attributes("SubjectAccessReview", user, spec)
        return _created(_echo("SubjectAccessReview", AUTHZ, body, _decision(access, attrs)))

    async def self_rules(request: web.Request, server: Any, _target: Any, verb: str) -> web.StreamResponse:
        body = await body_of(request, server, verb)
        namespace = ((body or {}).get("spec") or {}).get("namespace") or ""
        rules, errors = access.authorizer.rules(user_of(request), namespace)
        status = {**_split(rules), "incomplete": bool(errors)}
        if errors:
            status["evaluationError"] = ", ".join(errors)
        return _created(_echo("SelfSubjectRulesReview", AUTHZ, body, status))

    async def self_subject(request: web.Request, server: Any, _target: Any, verb: str) -> web.StreamResponse:
        body = await body_of(request, server, verb)
        review = _echo("SelfSubjectReview", AUTHN, body, {"userInfo": user_of(request).info()})
        review.pop("spec")
        return _created(review)

    async def token_review(request: web.Request, server: Any, _target: Any, verb: str) -> web.StreamResponse:
        body = await body_of(request, server, verb)
        spec = (body or {}).get("spec") or {}
        audiences = tuple(spec.get("audiences") or ())
        user = access.tokens.review(spec.get("token") or "", *((audiences,) if audiences else ()))
        status: dict[str, Any] = {"user": {}}
        if user is not None:
            status = {
                "authenticated": True,
                "user": user.info(),
                **({"audiences": list(audiences)} if audiences else {}),
            }
        return _created(_echo("TokenReview", AUTHN, body, status))

    return {
        (AUTHZ, "selfsubjectaccessreviews"): self_access,
        (AUTHZ, "subjectaccessreviews"): subject_access,
        (AUTHZ, "selfsubjectrulesreviews"): self_rules,
        (AUTHN, "selfsubjectreviews"): self_subject,
        (AUTHN, "tokenreviews"): token_review,
    }


def token_handler(access: Access) -> Callable[[web.Request, Any, Any], Awaitable[web.StreamResponse]]:
    """``POST .../serviceaccounts/<name>/token`` (the server has already answered 404 for a missing account)."""

    async def handler(request: web.Request, server: Any, target: Any) -> web.StreamResponse:
        account = server.cluster.store.get(("", "serviceaccounts"), target.namespace or "", target.name or "")
        body = await server._body(request)
        return _created(access.tokens.request(account, body))

    return handler
