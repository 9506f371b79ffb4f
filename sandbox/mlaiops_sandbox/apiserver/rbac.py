"""RBAC authorization, as kube-apiserver's RBAC authorizer decides it.

A request is allowed when one rule of a role bound to its user (by name, group or ServiceAccount)
matches: ClusterRoleBindings grant their ClusterRole everywhere, RoleBindings grant their Role or
ClusterRole in their own namespace. Rules match like ``rbac/v1`` helpers: ``*`` in verbs,
apiGroups, resources and nonResourceURLs; ``resource/subresource`` and ``*/subresource``;
``resourceNames`` restrict by object name (so they never apply to create or to a list without a
``metadata.name`` field selector); nonResourceURLs match exactly or by a trailing ``*`` prefix.
``system:masters`` is allowed everything (the authorizer short-circuits it, as the real one does).

The bootstrap policy every real cluster has for authenticated users (``system:discovery``,
``system:basic-user``, ``system:public-info-viewer``) is built in here rather than stored as
objects. Aggregated ClusterRoles are not supported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .authn import AUTHENTICATED, SUPERUSERS, UNAUTHENTICATED, User
from .errors import ApiError

RBAC = "rbac.authorization.k8s.io"
Rule = dict[str, Any]
Lister = Callable[[tuple[str, str], str | None], list[dict[str, Any]]]
Getter = Callable[[tuple[str, str], str, str], dict[str, Any] | None]

PUBLIC_INFO = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
BOOTSTRAP: dict[str, list[tuple[str, list[Rule]]]] = {
    AUTHENTICATED: [
        (
            "system:discovery",
            [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"]}],
        ),
        (
            "system:basic-user",
            [
                {
                    "verbs": ["create"],
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                },
                {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
            ],
        ),
        ("system:public-info-viewer", [{"verbs": ["get"], "nonResourceURLs": PUBLIC_INFO}]),
    ],
    UNAUTHENTICATED: [("system:public-info-viewer", [{"verbs": ["get"], "nonResourceURLs": PUBLIC_INFO}])],
}


@dataclass(frozen=True)
class Attributes:
    """What is asked (authorizer.Attributes): a resource request or a non-resource path."""

    user: User
    verb: str
    resource_request: bool = True
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def combined(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _has(values: list[str] | None, wanted: str) -> bool:
    return "*" in (values or []) or wanted in (values or [])


def _resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    for resource in rule.get("resources") or []:
        if resource in ("*", combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: Rule, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url in ("*", path) or (url.endswith("*") and path.startswith(url.rstrip("*"))):
            return True
    return False


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    """rbac.RuleAllows."""
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule, attrs.path)
    names = rule.get("resourceNames") or []
    return (
        _has(rule.get("apiGroups"), attrs.group)
        and _resource_matches(rule, attrs.combined, attrs.subresource)
        and (not names or attrs.name in names)
    )


def _applies(subject: dict[str, Any], user: User, namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        account_namespace = subject.get("namespace") or namespace
        return (
            bool(account_namespace) and user.name == f"system:serviceaccount:{account_namespace}:{subject.get('name')}"
        )
    return False


def _describe_subject(subject: dict[str, Any], namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class Authorizer:
    """Decides from the Roles, ClusterRoles and bindings stored in the cluster at request time."""

    def __init__(self, get: Getter, list_: Lister) -> None:
        self._get, self._list = get, list_

    def _bound_rules(self, user: User, namespace: str, errors: list[str]) -> Iterator[tuple[str, Rule]]:
        """(why, rule) for every rule bound to ``user`` that applies in ``namespace`` ("" = cluster)."""
        for group in user.groups:
            for role, rules in BOOTSTRAP.get(group, []):
                for rule in rules:
                    yield (
                        f'RBAC: allowed by ClusterRoleBinding "{role}" of ClusterRole "{role}" to Group "{group}"',
                        rule,
                    )
        for binding in self._list((RBAC, "clusterrolebindings"), None):
            yield from self._binding_rules(binding, user, "", errors)
        if namespace:
            for binding in self._list((RBAC, "rolebindings"), namespace):
                yield from self._binding_rules(binding, user, namespace, errors)

    def _binding_rules(
        self, binding: dict[str, Any], user: User, namespace: str, errors: list[str]
    ) -> Iterator[tuple[str, Rule]]:
        subject = next((s for s in binding.get("subjects") or [] if _applies(s, user, namespace)), None)
        if subject is None:
            return
        ref = binding.get("roleRef") or {}
        kind, name = ref.get("kind", ""), ref.get("name", "")
        if kind == "ClusterRole":
            role = self._get((RBAC, "clusterroles"), "", name)
        elif kind == "Role" and namespace:
            role = self._get((RBAC, "roles"), namespace, name)
        else:
            role = None
        if role is None:
            # The listers' NotFound, singular: role.rbac.authorization.k8s.io "x" not found.
            errors.append(f'{"clusterrole" if kind == "ClusterRole" else "role"}.{RBAC} "{name}" not found')
            return
        binding_kind = "RoleBinding" if namespace else "ClusterRoleBinding"
        where = f"{binding['metadata']['name']}/{namespace}" if namespace else binding["metadata"]["name"]
        why = f'RBAC: allowed by {binding_kind} "{where}" of {kind} "{name}" to {_describe_subject(subject, namespace)}'
        for rule in role.get("rules") or []:
            yield why, rule

    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason): the reason names the granting binding, or the roles that were missing."""
        if SUPERUSERS in attrs.user.groups:
            return True, ""
        errors: list[str] = []
        for why, rule in self._bound_rules(attrs.user, attrs.namespace, errors):
            if rule_allows(rule, attrs):
                return True, why
        if not errors:
            return False, ""
        return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")

    def rules(self, user: User, namespace: str) -> tuple[list[Rule], list[str]]:
        """Every rule that applies to ``user`` in ``namespace`` (SelfSubjectRulesReview)."""
        if SUPERUSERS in user.groups:
            return [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ], []
        errors: list[str] = []
        return [rule for _, rule in self._bound_rules(user, namespace, errors)], errors

    def check(self, attrs: Attributes) -> None:
        """Raise the real server's 403 Forbidden when ``attrs`` is not allowed."""
        allowed, reason = self.authorize(attrs)
        if not allowed:
            raise forbidden(attrs, reason)


def forbidden(attrs: Attributes, reason: str = "") -> ApiError:
    """responsewriters.ForbiddenStatusError: the message kubectl prints after "Error from server (Forbidden)"."""
    user = attrs.user.name
    if not attrs.resource_request:
        message = f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"'
        return ApiError(403, message + (f": {reason}" if reason else ""), reason="Forbidden")
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    message = f'User "{user}" cannot {attrs.verb} resource "{attrs.combined}" in API group "{attrs.group}" {where}'
    if reason:
        message += f": {reason}"
    resource = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    subject = f'{resource} "{attrs.name}"' if attrs.name else resource
    details = {
        key: value for key, value in (("name", attrs.name), ("group", attrs.group), ("kind", attrs.resource)) if value
    }
    return ApiError(403, f"{subject} is forbidden: {message}", reason="Forbidden", details=details)
