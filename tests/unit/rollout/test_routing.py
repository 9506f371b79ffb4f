"""The pure Gateway API routing: route state per step, route checks, and the patch that writes our parts only."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlaiops.api.modeldeployment import CanaryStep
from mlaiops.rollout.routing import (
    MANAGED_ANNOTATION,
    STABLE_ONLY,
    RouteState,
    check_route,
    driven_rule,
    gateway_replicas,
    observe_route,
    rewrite,
    step_route,
)

GRANT_FROM = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "ml"}


def steps(*raw: dict[str, Any]) -> list[CanaryStep]:
    return [CanaryStep.model_validate(step) for step in raw]


def user_route(**changes: Any) -> dict[str, Any]:
    """An HTTPRoute as a user writes it: a docs rule of its own, then a rule for the model's two Services."""
    route: dict[str, Any] = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "iris", "namespace": "ml", "resourceVersion": "7", "labels": {"team": "a"}},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["iris.example"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
                    "backendRefs": [{"name": "docs", "port": 80}],
                },
                {
                    "name": "model",
                    "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}],
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]},
                        }
                    ],
                    "backendRefs": [
                        {"name": "iris-stable", "port": 80, "weight": 100},
                        {"name": "iris-canary", "port": 80, "weight": 0},
                    ],
                },
            ],
        },
    }
    route["spec"].update(changes)
    return route


def applied(route: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of rules (lists are replaced) and annotations, as the API server applies it."""
    result = copy.deepcopy(route)
    result["metadata"].setdefault("annotations", {}).update(patch["metadata"]["annotations"])
    result["spec"]["rules"] = patch["spec"]["rules"]
    return result


HEADER = {"name": "beta", "match": [{"headerName": "X-Tenant", "headerValue": {"exact": "beta"}}]}
PREFIX = {"name": "testers", "match": [{"headerName": "X-Client", "headerValue": {"prefix": "qa.1"}}]}
MIRROR = {"name": "shadow", "percentage": 20}


def test_a_step_state_keeps_the_last_weight_and_every_rule_set_so_far() -> None:
    plan = steps({"setMirrorRoute": MIRROR}, {"weight": 5}, {"setHeaderRoute": HEADER}, {"weight": 25})
    assert step_route(plan, 0) == RouteState(0, (), (plan[0].set_mirror_route,))  # type: ignore[arg-type]
    assert step_route(plan, 1).canary_weight == 5
    assert step_route(plan, 2).canary_weight == 5 and step_route(plan, 2).rule_names() == (
        "mlaiops-beta",
        "mlaiops-shadow",
    )
    assert step_route(plan, 3).canary_weight == 25
    assert STABLE_ONLY.rule_names() == () and STABLE_ONLY.canary_weight == 0


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [(3, 5, (3, 1)), (3, 0, (3, 1)), (4, 25, (4, 1)), (4, 26, (4, 2)), (10, 50, (10, 5)), (0, 5, (1, 1))],
)
def test_gateway_replicas_give_both_tracks_enough_pods(total: int, weight: int, expected: tuple[int, int]) -> None:
    assert gateway_replicas(total, weight) == expected


def test_the_driven_rule_names_both_services_in_the_route_namespace() -> None:
    assert driven_rule(user_route(), "iris", "ml") == 1
    other = user_route()
    other["spec"]["rules"][1]["backendRefs"][1]["namespace"] = "elsewhere"
    assert driven_rule(other, "iris", "ml") is None
    assert driven_rule(user_route(), "rose", "ml") is None


def test_weights_are_exact_and_only_our_parts_change() -> None:
    route = user_route()
    patch = rewrite(route, "iris", "ml", RouteState(canary_weight=5))
    assert patch["metadata"] == {"resourceVersion": "7", "annotations": {MANAGED_ANNOTATION: "ModelDeployment/iris"}}
    rules = patch["spec"]["rules"]
    assert rules[0] == route["spec"]["rules"][0]  # the user's other rule, unchanged
    assert rules[1]["backendRefs"] == [
        {"name": "iris-stable", "port": 80, "weight": 95},
        {"name": "iris-canary", "port": 80, "weight": 5},
    ]
    assert rules[1]["filters"] == route["spec"]["rules"][1]["filters"]
    assert set(patch["spec"]) == {"rules"} and "hostnames" not in patch["spec"]  # never written
    assert route["spec"]["rules"][1]["backendRefs"][0]["weight"] == 100  # the input is not modified
    seen = observe_route(applied(route, patch), "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight, seen.rule, seen.weight()) == (95, 5, "model", 5)
    assert seen.shows(RouteState(canary_weight=5)) and not seen.shows(RouteState(canary_weight=6))


def test_header_rules_are_prepended_send_only_to_the_canary_and_keep_the_rule_match() -> None:
    plan = steps({"weight": 5}, {"setHeaderRoute": HEADER}, {"setHeaderRoute": PREFIX})
    patch = rewrite(user_route(), "iris", "ml", step_route(plan, 2))
    beta, testers, docs, model = patch["spec"]["rules"]
    assert (beta["name"], testers["name"], docs.get("name"), model["name"]) == (
        "mlaiops-beta",
        "mlaiops-testers",
        None,
        "model",
    )
    assert beta["backendRefs"] == [{"name": "iris-canary", "port": 80}]
    assert beta["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/v2"},
            "headers": [{"name": "X-Tenant", "type": "Exact", "value": "beta"}],
        }
    ]
    assert testers["matches"][0]["headers"] == [{"name": "X-Client", "type": "RegularExpression", "value": r"^qa\.1.*"}]
    assert beta["filters"] == model["filters"]  # the user's filters still apply to routed requests
    seen = observe_route(applied(user_route(), patch), "iris", "ml")
    assert seen.rules == ("mlaiops-beta", "mlaiops-testers") and seen.shows(step_route(plan, 2))
    assert not seen.shows(step_route(plan, 1))


def test_a_mirror_rule_copies_to_the_canary_and_answers_from_the_weighted_backends() -> None:
    plan = steps({"setMirrorRoute": {**MIRROR, "match": [{"headerName": "X-Shadow", "headerValue": {"regex": "y.*"}}]}})
    patch = rewrite(user_route(), "iris", "ml", step_route(plan, 0))
    shadow = patch["spec"]["rules"][0]
    assert shadow["name"] == "mlaiops-shadow"
    assert shadow["backendRefs"] == [
        {"name": "iris-stable", "port": 80, "weight": 100},
        {"name": "iris-canary", "port": 80, "weight": 0},
    ]
    assert shadow["filters"][-1] == {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"name": "iris-canary", "port": 80}, "percent": 20},
    }
    assert shadow["matches"][0]["headers"] == [{"name": "X-Shadow", "type": "RegularExpression", "value": "y.*"}]


def test_promotion_or_rollback_removes_every_managed_rule_and_gives_stable_everything() -> None:
    plan = steps({"weight": 5}, {"setHeaderRoute": HEADER}, {"setMirrorRoute": MIRROR}, {"weight": 50})
    during = applied(user_route(), rewrite(user_route(), "iris", "ml", step_route(plan, 3)))
    assert len(during["spec"]["rules"]) == 4
    after = applied(during, rewrite(during, "iris", "ml", STABLE_ONLY))
    assert [r.get("name") for r in after["spec"]["rules"]] == [None, "model"]
    assert after["spec"]["rules"][1]["backendRefs"][0]["weight"] == 100
    assert after["spec"]["rules"][1]["backendRefs"][1]["weight"] == 0
    assert after["spec"]["rules"][0] == user_route()["spec"]["rules"][0]
    assert observe_route(after, "iris", "ml").shows(STABLE_ONLY)


def problem(
    route: dict[str, Any] | None, gateways: set[tuple[str, str]] | None = None, **grants: Any
) -> tuple[str, str]:
    found = check_route(route, "iris", "iris", "ml", {("ml", "public")} if gateways is None else gateways, grants)
    return (found.reason, found.message) if found else ("", "")


def test_a_drivable_route_has_no_problem() -> None:
    assert problem(user_route()) == ("", "")


def test_a_missing_route_names_the_field() -> None:
    reason, message = problem(None)
    assert reason == "RouteNotFound"
    assert message == "HTTPRoute ml/iris not found (spec.rollout.trafficRouting.gatewayAPI.httpRoute)"


def test_a_route_without_our_services_is_refused() -> None:
    route = user_route()
    route["spec"]["rules"] = route["spec"]["rules"][:1]
    assert problem(route) == (
        "NoMatchingRule",
        "HTTPRoute ml/iris has no rule whose backendRefs name the Services iris-stable and iris-canary",
    )


def test_a_route_another_model_deployment_drives_is_refused() -> None:
    route = user_route()
    route["metadata"]["annotations"] = {MANAGED_ANNOTATION: "ModelDeployment/rose"}
    assert problem(route) == (
        "RouteManagedElsewhere",
        "HTTPRoute ml/iris is driven by ModelDeployment/rose (mlaiops.dev/managed-by)",
    )
    route["metadata"]["annotations"] = {MANAGED_ANNOTATION: "ModelDeployment/iris"}
    assert problem(route) == ("", "")


def test_a_missing_parent_gateway_is_named() -> None:
    route = user_route(parentRefs=[{"name": "public"}, {"name": "edge", "namespace": "infra"}])
    assert problem(route) == ("GatewayNotFound", "HTTPRoute ml/iris: parent Gateway infra/edge not found")
    assert problem(route, {("ml", "public"), ("infra", "edge")}) == ("", "")
    other_kind = user_route(parentRefs=[{"name": "svc", "kind": "Service", "group": ""}])
    assert problem(other_kind, set()) == ("", "")  # only Gateways are checked


def test_a_backend_in_another_namespace_needs_a_reference_grant() -> None:
    route = user_route()
    route["spec"]["rules"][1]["backendRefs"].append(
        {"name": "fallback", "namespace": "shared", "port": 80, "weight": 0}
    )
    assert problem(route) == (
        "RefNotPermitted",
        "HTTPRoute ml/iris refers to Service shared/fallback and no ReferenceGrant in shared allows it",
    )
    wrong_source = {"spec": {"from": [{**GRANT_FROM, "namespace": "other"}], "to": [{"group": "", "kind": "Service"}]}}
    assert problem(route, shared=[wrong_source])[0] == "RefNotPermitted"
    wrong_name = {"spec": {"from": [GRANT_FROM], "to": [{"group": "", "kind": "Service", "name": "x"}]}}
    assert problem(route, shared=[wrong_name])[0] == "RefNotPermitted"
    granted = {"spec": {"from": [GRANT_FROM], "to": [{"group": "", "kind": "Service", "name": "fallback"}]}}
    assert problem(route, shared=[granted]) == ("", "")
    assert problem(route, shared=[{"spec": {"from": [GRANT_FROM], "to": [{"group": "", "kind": "Service"}]}}]) == (
        "",
        "",
    )
