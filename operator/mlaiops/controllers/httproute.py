"""ModelDeployment Gateway API routing, the I/O: read the HTTPRoute and what it refers to, write our parts.

What to write and whether the route can be driven is decided in ``mlaiops.rollout.routing`` (pure); here
only the reads and the one guarded write. The write carries the resourceVersion it was computed from, so a
route changed meanwhile (a GitOps sync, another controller) is never overwritten: the next pass reads again.
"""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.kube import JSON, Kube
from mlaiops.rollout.routing import (
    GATEWAY_GROUP,
    HTTPROUTE_API,
    MANAGED_ANNOTATION,
    REFERENCEGRANT_API,
    RouteObservation,
    RouteProblem,
    RouteState,
    check_route,
    foreign_backends,
    observe_route,
    owner_value,
    parents,
    rewrite,
)

GATEWAY_API = f"{GATEWAY_GROUP}/v1"


def route_name(spec: ModelDeploymentSpec) -> str:
    """The HTTPRoute the spec names (only called with trafficRouting set)."""
    assert spec.rollout.traffic_routing is not None
    return spec.rollout.traffic_routing.gateway_api.http_route


def _reason(error: ApiException) -> str:
    """``422 Unprocessable Entity: <the API server's message>``, for a condition."""
    message = ""
    try:
        message = str(json.loads(error.body or "{}").get("message", ""))
    except (ValueError, AttributeError):
        message = ""
    return f"{error.status} {error.reason}" + (f": {message}" if message else "")


def read_route(
    client: Kube, spec: ModelDeploymentSpec, namespace: str, name: str
) -> tuple[RouteObservation, JSON | None]:
    """The route's state for the planner, and the route itself (None when it cannot be driven)."""
    route_ref = route_name(spec)
    try:
        route = client.get(HTTPROUTE_API, "HTTPRoute", namespace, route_ref)
        gateways: set[tuple[str, str]] = set()
        grants: dict[str, list[JSON]] = {}
        if route is not None:
            for gateway_namespace, gateway in parents(route):
                if client.get(GATEWAY_API, "Gateway", gateway_namespace, gateway) is not None:
                    gateways.add((gateway_namespace, gateway))
            for backend_namespace, _ in foreign_backends(route, name, namespace):
                grants[backend_namespace] = client.list(REFERENCEGRANT_API, "ReferenceGrant", backend_namespace)
    except ApiException as error:
        problem = RouteProblem("RouteReadFailed", f"HTTPRoute {namespace}/{route_ref} not read: {_reason(error)}")
        return RouteObservation(problem=problem), None
    refused = check_route(route, route_ref, name, namespace, gateways, grants)
    if refused is not None or route is None:
        return RouteObservation(problem=refused), None
    return observe_route(route, name, namespace), route


def write_route(
    client: Kube, route: JSON, name: str, namespace: str, state: RouteState, observed: RouteObservation
) -> RouteObservation:
    """Make the route carry ``state`` (one merge patch, guarded by resourceVersion); what it carries after.

    A refused write (409 conflict, 422 invalid, 403 forbidden) changes nothing and comes back as a problem.
    """
    owned = (route["metadata"].get("annotations") or {}).get(MANAGED_ANNOTATION) == owner_value(name)
    if owned and observed.shows(state):
        return observed
    where = f"HTTPRoute {namespace}/{route['metadata']['name']}"
    try:
        patched = client.patch(
            HTTPROUTE_API, "HTTPRoute", namespace, route["metadata"]["name"], rewrite(route, name, namespace, state)
        )
    except ApiException as error:
        message = f"{where}: weights not written ({_reason(error)})"
        return RouteObservation(
            stable_weight=observed.stable_weight,
            canary_weight=observed.canary_weight,
            rules=observed.rules,
            rule=observed.rule,
            problem=RouteProblem("RouteWriteFailed", message),
        )
    return observe_route(patched, name, namespace)
