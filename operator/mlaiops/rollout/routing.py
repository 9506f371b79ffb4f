"""Gateway API routing of a canary, pure: which weights and rules the HTTPRoute should carry, and how to write them.

The canary planner decides the step; this module turns a step into a route state (exact weights, the
operator's header and mirror rules) and a route object into the same terms, so the controller only reads,
calls ``rewrite`` and patches. As Argo Rollouts' Gateway API plugin does, the operator touches only its
parts of a user's HTTPRoute: the weights of the two backendRefs naming its Services in one rule, and the
rules it adds (named ``mlaiops-<step route name>``, found and removed by that prefix). Everything else stays
as the user or a GitOps tool wrote it.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

from mlaiops.api.modeldeployment import (
    CanaryStep,
    HeaderMatch,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    SetHeaderRoute,
    SetMirrorRoute,
    step_weight,
)

JSON = dict[str, Any]
GATEWAY_GROUP = "gateway.networking.k8s.io"
HTTPROUTE_API = f"{GATEWAY_GROUP}/v1"
REFERENCEGRANT_API = f"{GATEWAY_GROUP}/v1beta1"
MANAGED_ANNOTATION = "mlaiops.dev/managed-by"
RULE_PREFIX = "mlaiops-"


@dataclass(frozen=True)
class RouteState:
    """What the operator's parts of the route should say: the canary's weight (stable has the rest) and its rules."""

    canary_weight: int = 0
    header_routes: tuple[SetHeaderRoute, ...] = ()
    mirror_routes: tuple[SetMirrorRoute, ...] = ()

    def rule_names(self) -> tuple[str, ...]:
        """The managed rules' names, in the order they are written (header rules first)."""
        names = [r.name for r in self.header_routes] + [r.name for r in self.mirror_routes]
        return tuple(RULE_PREFIX + name for name in names)


STABLE_ONLY = RouteState()
"""No canary, or a canary that is promoted or rolled back: stable takes 100% and no managed rule is left."""


@dataclass(frozen=True)
class RouteProblem:
    """Why the route cannot be driven: a CamelCase reason and a message naming the object."""

    reason: str
    message: str


@dataclass(frozen=True)
class RouteObservation:
    """What the HTTPRoute says now about the operator's parts (or why it cannot be driven)."""

    stable_weight: int = 0
    canary_weight: int = 0
    rules: tuple[str, ...] = ()
    rule: str = ""
    """The driven rule: its name, else its index."""
    problem: RouteProblem | None = None

    def shows(self, state: RouteState) -> bool:
        """Whether the route already carries this state (weights and managed rules)."""
        return (
            self.problem is None
            and self.canary_weight == state.canary_weight
            and self.stable_weight == 100 - state.canary_weight
            and self.rules == state.rule_names()
        )

    def weight(self) -> int:
        """The canary's share of the driven rule's traffic, in percent."""
        total = self.stable_weight + self.canary_weight
        return 0 if total == 0 else math.floor(100 * self.canary_weight / total + 0.5)


def step_route(steps: list[CanaryStep], index: int) -> RouteState:
    """The route state of step ``index``: the weight in force, and every header and mirror rule set so far."""
    done = steps[: index + 1]
    return RouteState(
        canary_weight=step_weight(steps, index),
        header_routes=tuple(s.set_header_route for s in done if s.set_header_route is not None),
        mirror_routes=tuple(s.set_mirror_route for s in done if s.set_mirror_route is not None),
    )


def desired_route(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, canary_ready: bool) -> RouteState:
    """The route for this tick: the step's state once its canary pods are Ready, the step before until then.

    Traffic never reaches canary pods that are not serving yet; a rollout that ended routes stable only.
    """
    if status.canary_model is None or status.current_step is None:
        return STABLE_ONLY
    index = status.current_step if canary_ready else status.current_step - 1
    return step_route(spec.rollout.canary.steps, index) if index >= 0 else STABLE_ONLY


def gateway_replicas(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas when the route, not the replica ratio, splits traffic.

    Stable keeps every replica (it must take 100% back at once on rollback); the canary gets its share
    rounded up, at least one pod, so a 5% or a header or mirror step (weight 0) still has a server.
    """
    return max(total, 1), max(1, math.ceil(total * weight / 100))


# --- reading a route ---------------------------------------------------------------------------------


def service_name(name: str, track: str) -> str:
    """The per-track Service a route's backendRef must name (resources.modelserver.service)."""
    return f"{name}-{track}"


def _is_service(ref: JSON, service: str, namespace: str, route_namespace: str) -> bool:
    return (
        ref.get("name") == service
        and ref.get("group", "") == ""
        and ref.get("kind", "Service") == "Service"
        and ref.get("namespace", route_namespace) == namespace
    )


def _ref_index(rule: JSON, service: str, namespace: str, route_namespace: str) -> int | None:
    refs = rule.get("backendRefs") or []
    return next((i for i, ref in enumerate(refs) if _is_service(ref, service, namespace, route_namespace)), None)


def driven_rule(route: JSON, name: str, namespace: str) -> int | None:
    """Index of the first user rule whose backendRefs name both per-track Services, or None."""
    route_namespace = route["metadata"].get("namespace", namespace)
    for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        if str(rule.get("name", "")).startswith(RULE_PREFIX):
            continue
        stable = _ref_index(rule, service_name(name, "stable"), namespace, route_namespace)
        canary = _ref_index(rule, service_name(name, "canary"), namespace, route_namespace)
        if stable is not None and canary is not None:
            return index
    return None


def owner_value(name: str) -> str:
    """The route annotation that says which ModelDeployment drives it."""
    return f"ModelDeployment/{name}"


def parents(route: JSON) -> list[tuple[str, str]]:
    """(namespace, name) of every Gateway the route attaches to."""
    route_namespace = route["metadata"].get("namespace", "")
    found = []
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if ref.get("group", GATEWAY_GROUP) == GATEWAY_GROUP and ref.get("kind", "Gateway") == "Gateway":
            found.append((ref.get("namespace", route_namespace), ref["name"]))
    return found


def foreign_backends(route: JSON, name: str, namespace: str) -> list[tuple[str, str]]:
    """(namespace, name) of the driven rule's Service backendRefs in another namespace than the route's."""
    index = driven_rule(route, name, namespace)
    if index is None:
        return []
    route_namespace = route["metadata"].get("namespace", namespace)
    rule = route["spec"]["rules"][index]
    return [
        (ref["namespace"], ref["name"])
        for ref in rule.get("backendRefs") or []
        if ref.get("namespace", route_namespace) != route_namespace
        and ref.get("group", "") == ""
        and ref.get("kind", "Service") == "Service"
    ]


def grants(grant_objects: list[JSON], route_namespace: str, service: str) -> bool:
    """Whether one of the ReferenceGrants (of the Service's namespace) lets HTTPRoutes of ``route_namespace`` in."""
    for grant in grant_objects:
        spec = grant.get("spec") or {}
        sources = any(
            f.get("group") == GATEWAY_GROUP and f.get("kind") == "HTTPRoute" and f.get("namespace") == route_namespace
            for f in spec.get("from") or []
        )
        targets = any(
            t.get("group", "") == "" and t.get("kind") == "Service" and t.get("name", service) == service
            for t in spec.get("to") or []
        )
        if sources and targets:
            return True
    return False


def check_route(
    route: JSON | None,
    route_name: str,
    name: str,
    namespace: str,
    gateways: set[tuple[str, str]],
    reference_grants: dict[str, list[JSON]],
) -> RouteProblem | None:
    """Why this route cannot be driven, or None. ``gateways``: the parent Gateways that exist;
    ``reference_grants``: the ReferenceGrants of each foreign backend's namespace."""
    where = f"HTTPRoute {namespace}/{route_name}"
    if route is None:
        return RouteProblem("RouteNotFound", f"{where} not found (spec.rollout.trafficRouting.gatewayAPI.httpRoute)")
    owner = ((route["metadata"].get("annotations") or {}).get(MANAGED_ANNOTATION)) or owner_value(name)
    if owner != owner_value(name):
        return RouteProblem("RouteManagedElsewhere", f"{where} is driven by {owner} ({MANAGED_ANNOTATION})")
    if driven_rule(route, name, namespace) is None:
        services = f"{service_name(name, 'stable')} and {service_name(name, 'canary')}"
        return RouteProblem("NoMatchingRule", f"{where} has no rule whose backendRefs name the Services {services}")
    for backend_namespace, service in foreign_backends(route, name, namespace):
        if not grants(reference_grants.get(backend_namespace, []), namespace, service):
            return RouteProblem(
                "RefNotPermitted",
                f"{where} refers to Service {backend_namespace}/{service} and no ReferenceGrant in "
                f"{backend_namespace} allows it",
            )
    missing = [f"{ns}/{gateway}" for ns, gateway in parents(route) if (ns, gateway) not in gateways]
    if missing:
        return RouteProblem("GatewayNotFound", f"{where}: parent Gateway {', '.join(missing)} not found")
    return None


def observe_route(route: JSON, name: str, namespace: str) -> RouteObservation:
    """The operator's parts of a route that ``check_route`` accepted."""
    index = driven_rule(route, name, namespace)
    assert index is not None  # check_route refused the route otherwise
    rules = route["spec"]["rules"]
    rule = rules[index]
    route_namespace = route["metadata"].get("namespace", namespace)
    refs = rule["backendRefs"]
    stable = refs[_ref_index(rule, service_name(name, "stable"), namespace, route_namespace) or 0]
    canary = refs[_ref_index(rule, service_name(name, "canary"), namespace, route_namespace) or 0]
    return RouteObservation(
        stable_weight=int(stable.get("weight", 1)),
        canary_weight=int(canary.get("weight", 1)),
        rules=tuple(str(r["name"]) for r in rules if str(r.get("name", "")).startswith(RULE_PREFIX)),
        rule=str(rule.get("name", index)),
    )


# --- writing a route ---------------------------------------------------------------------------------


def _header(match: HeaderMatch) -> JSON:
    value = match.header_value
    if value.exact is not None:
        return {"name": match.header_name, "type": "Exact", "value": value.exact}
    pattern = value.regex if value.regex is not None else "^" + re.escape(value.prefix or "") + ".*"
    return {"name": match.header_name, "type": "RegularExpression", "value": pattern}


def _matches(base: JSON, headers: list[HeaderMatch] | None) -> list[JSON]:
    """The base rule's matches, each also requiring ``headers`` (a request must match both)."""
    matches = copy.deepcopy(base.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}])
    for match in matches:
        if headers:
            match["headers"] = [*(match.get("headers") or []), *(_header(h) for h in headers)]
    return matches


def rewrite(route: JSON, name: str, namespace: str, state: RouteState) -> JSON:
    """The merge patch that makes the route carry ``state``: its full rules list (only our parts changed),
    the ownership annotation, and the resourceVersion it was computed from (the write fails on a conflict)."""
    index = driven_rule(route, name, namespace)
    assert index is not None  # check_route refused the route otherwise
    route_namespace = route["metadata"].get("namespace", namespace)
    rules = route["spec"]["rules"]
    managed_before = sum(str(r.get("name", "")).startswith(RULE_PREFIX) for r in rules[:index])
    user_rules = [copy.deepcopy(r) for r in rules if not str(r.get("name", "")).startswith(RULE_PREFIX)]
    base = user_rules[index - managed_before]
    stable_service, canary_service = service_name(name, "stable"), service_name(name, "canary")
    for ref in base["backendRefs"]:
        if _is_service(ref, stable_service, namespace, route_namespace):
            ref["weight"] = 100 - state.canary_weight
        elif _is_service(ref, canary_service, namespace, route_namespace):
            ref["weight"] = state.canary_weight
    canary_ref = next(r for r in base["backendRefs"] if _is_service(r, canary_service, namespace, route_namespace))
    managed: list[JSON] = []
    for header in state.header_routes:
        only_canary = {key: value for key, value in canary_ref.items() if key != "weight"}
        rule: JSON = {"name": RULE_PREFIX + header.name, "matches": _matches(base, header.match)}
        if base.get("filters"):
            rule["filters"] = copy.deepcopy(base["filters"])
        rule["backendRefs"] = [only_canary]
        managed.append(rule)
    for mirror in state.mirror_routes:
        target = {key: value for key, value in canary_ref.items() if key not in ("weight", "filters")}
        mirror_filter = {"type": "RequestMirror", "requestMirror": {"backendRef": target, "percent": mirror.percentage}}
        managed.append(
            {
                "name": RULE_PREFIX + mirror.name,
                "matches": _matches(base, mirror.match),
                "filters": [*copy.deepcopy(base.get("filters") or []), mirror_filter],
                "backendRefs": copy.deepcopy(base["backendRefs"]),
            }
        )
    return {
        "metadata": {
            "resourceVersion": route["metadata"].get("resourceVersion"),
            "annotations": {MANAGED_ANNOTATION: owner_value(name)},
        },
        "spec": {"rules": [*managed, *user_rules]},
    }
