"""Details of the Gateway API routing that test_routing.py leaves open, pinned after mutation testing.

benchmarks/mutation.py showed which ones no test stated: Gateway API's defaults (a backendRef without
group, kind, namespace or weight; a parentRef without group or kind; a rule without matches or name), a
route whose namespace is not the ModelDeployment's, backendRefs listed canary first, the step before
the first, and that the patch's rules are independent copies.
"""

from __future__ import annotations

import copy
from typing import Any

from mlaiops.api.modeldeployment import ModelDeploymentStatus, ModelRef
from mlaiops.rollout.routing import (
    STABLE_ONLY,
    RouteObservation,
    RouteState,
    check_route,
    desired_route,
    driven_rule,
    foreign_backends,
    gateway_replicas,
    grants,
    observe_route,
    parents,
    rewrite,
    step_route,
)
from tests.unit.rollout.test_canary import make_spec
from tests.unit.rollout.test_routing import GRANT_FROM, HEADER, MIRROR, steps, user_route


def route_with(refs: list[dict[str, Any]], **rule: Any) -> dict[str, Any]:
    """A route in ``ml`` with one user rule (named ``model`` unless ``rule`` says otherwise) over ``refs``."""
    route = user_route()
    route["spec"]["rules"] = [{"name": "model", **rule, "backendRefs": refs}]
    route["spec"]["rules"][0] = {k: v for k, v in route["spec"]["rules"][0].items() if v is not None}
    return route


STABLE = {"name": "iris-stable", "port": 80, "weight": 70}
CANARY = {"name": "iris-canary", "port": 80, "weight": 30}


# --- which backendRefs are the model's Services ---------------------------------------------------------


def test_a_backend_ref_is_our_service_only_in_the_core_group_and_service_kind() -> None:
    explicit = route_with([{**STABLE, "group": "", "kind": "Service"}, {**CANARY, "group": "", "kind": "Service"}])
    assert driven_rule(explicit, "iris", "ml") == 0
    other_group = route_with([STABLE, {**CANARY, "group": "multicluster.x-k8s.io"}])
    assert driven_rule(other_group, "iris", "ml") is None
    other_kind = route_with([STABLE, {**CANARY, "kind": "ServiceImport"}])
    assert driven_rule(other_kind, "iris", "ml") is None


def test_a_backend_ref_without_namespace_is_in_the_route_s_namespace() -> None:
    route = route_with([STABLE, CANARY])
    route["metadata"]["namespace"] = "web"  # the route is elsewhere: its bare refs name Services of "web"
    assert driven_rule(route, "iris", "ml") is None
    assert driven_rule(route, "iris", "web") == 0
    named = route_with([{**STABLE, "namespace": "ml"}, {**CANARY, "namespace": "ml"}])
    named["metadata"]["namespace"] = "web"
    assert driven_rule(named, "iris", "ml") == 0
    seen = observe_route(named, "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight) == (70, 30)
    patch = rewrite(named, "iris", "ml", RouteState(canary_weight=10))
    assert [r["weight"] for r in patch["spec"]["rules"][0]["backendRefs"]] == [90, 10]


def test_a_route_without_a_namespace_is_taken_to_be_in_the_model_deployment_s() -> None:
    route = route_with([STABLE, CANARY])
    del route["metadata"]["namespace"]
    assert driven_rule(route, "iris", "ml") == 0
    assert foreign_backends(route, "iris", "ml") == []
    seen = observe_route(route, "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight) == (70, 30)
    patch = rewrite(route, "iris", "ml", RouteState(canary_weight=40))
    assert [r["weight"] for r in patch["spec"]["rules"][0]["backendRefs"]] == [60, 40]


def test_an_unnamed_rule_is_driven_and_named_by_its_index() -> None:
    route = route_with([STABLE, CANARY], name=None)
    route["spec"]["rules"].insert(0, {"backendRefs": [{"name": "docs"}]})
    assert driven_rule(route, "iris", "ml") == 1
    seen = observe_route(route, "iris", "ml")
    assert seen.rule == "1" and seen.rules == ()
    patch = rewrite(route, "iris", "ml", RouteState(canary_weight=5))
    assert [r.get("name") for r in patch["spec"]["rules"]] == [None, None]
    assert [r["weight"] for r in patch["spec"]["rules"][1]["backendRefs"]] == [95, 5]


# --- foreign backends and ReferenceGrants ---------------------------------------------------------------


def test_foreign_backends_are_core_services_outside_the_route_s_namespace() -> None:
    route = route_with(
        [
            STABLE,
            CANARY,
            {"name": "fallback", "namespace": "shared", "port": 80},
            {"name": "import", "namespace": "shared", "group": "multicluster.x-k8s.io", "kind": "ServiceImport"},
            {"name": "other-kind", "namespace": "shared", "kind": "Backend"},
            {"name": "other-group", "namespace": "shared", "group": "example.com"},
            {"name": "local", "namespace": "ml", "group": "", "kind": "Service"},
        ]
    )
    assert foreign_backends(route, "iris", "ml") == [("shared", "fallback")]
    assert foreign_backends(route_with([STABLE]), "iris", "ml") == []  # no driven rule


def test_foreign_backends_compare_with_the_route_s_own_namespace() -> None:
    route = route_with([{**STABLE, "namespace": "ml"}, {**CANARY, "namespace": "ml"}, {"name": "x", "port": 80}])
    route["metadata"]["namespace"] = "web"
    assert foreign_backends(route, "iris", "ml") == [("ml", "iris-stable"), ("ml", "iris-canary")]


def test_a_reference_grant_names_core_services_only() -> None:
    implicit_group = {"spec": {"from": [GRANT_FROM], "to": [{"kind": "Service"}]}}
    assert grants([implicit_group], "ml", "fallback")
    other_group = {"spec": {"from": [GRANT_FROM], "to": [{"group": "example.com", "kind": "Service"}]}}
    assert not grants([other_group], "ml", "fallback")
    assert not grants([{}, {"spec": {"from": [GRANT_FROM]}}], "ml", "fallback")


# --- parents and the problems named ---------------------------------------------------------------------


def test_parents_are_gateways_by_default_in_the_route_s_namespace() -> None:
    route = user_route(
        parentRefs=[
            {"name": "public"},
            {"name": "edge", "namespace": "infra", "group": "gateway.networking.k8s.io", "kind": "Gateway"},
            {"name": "svc", "group": "", "kind": "Service"},
            {"name": "other-group", "group": "example.com"},
            {"name": "other-kind", "kind": "ListenerSet"},
        ]
    )
    assert parents(route) == [("ml", "public"), ("infra", "edge")]
    del route["metadata"]["namespace"]
    assert parents(route)[0] == ("", "public")


def test_every_missing_gateway_is_named() -> None:
    route = user_route(parentRefs=[{"name": "a"}, {"name": "b"}, {"name": "public"}])
    found = check_route(route, "iris", "iris", "ml", {("ml", "public")}, {})
    assert found is not None and found.message == "HTTPRoute ml/iris: parent Gateway ml/a, ml/b not found"


# --- reading the weights --------------------------------------------------------------------------------


def test_weights_are_read_from_each_service_s_own_ref_whatever_their_order() -> None:
    seen = observe_route(route_with([{"name": "docs"}, CANARY, STABLE]), "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight) == (70, 30)
    seen = observe_route(route_with([CANARY, STABLE]), "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight) == (70, 30)
    seen = observe_route(route_with([STABLE, CANARY]), "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight) == (70, 30)


def test_a_backend_ref_without_weight_weighs_one() -> None:
    seen = observe_route(route_with([{"name": "iris-stable"}, {"name": "iris-canary"}]), "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight, seen.weight()) == (1, 1, 50)
    seen = observe_route(route_with([{"name": "iris-stable"}, {"name": "iris-canary", "weight": 3}]), "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight, seen.weight()) == (1, 3, 75)


def test_the_canary_share_is_rounded_to_whole_percent() -> None:
    assert RouteObservation(stable_weight=0, canary_weight=0).weight() == 0  # no traffic at all
    assert RouteObservation(stable_weight=0, canary_weight=1).weight() == 100
    assert RouteObservation(stable_weight=1, canary_weight=0).weight() == 0
    assert RouteObservation(stable_weight=50, canary_weight=50).weight() == 50
    assert RouteObservation(stable_weight=2, canary_weight=1).weight() == 33
    assert RouteObservation(stable_weight=1, canary_weight=2).weight() == 67


def test_a_large_deployment_gives_the_canary_its_exact_share_of_pods() -> None:
    assert gateway_replicas(200, 100) == (200, 200)
    assert gateway_replicas(101, 100) == (101, 101)


# --- the route of a tick --------------------------------------------------------------------------------


def status(step: int | None, canary: bool = True) -> ModelDeploymentStatus:
    model = ModelRef(version="v2", storage_uri="file:///m/v2.joblib") if canary else None
    return ModelDeploymentStatus(canary_model=model, current_step=step)


def test_the_route_of_a_tick_follows_ready_canary_pods() -> None:
    spec = make_spec(rollout={"canary": {"steps": [{"weight": 10}, {"weight": 20}, {"weight": 30}, {"weight": 40}]}})
    assert desired_route(spec, status(2), canary_ready=True).canary_weight == 30
    assert desired_route(spec, status(2), canary_ready=False).canary_weight == 20  # the step before
    assert desired_route(spec, status(3), canary_ready=False).canary_weight == 30
    assert desired_route(spec, status(0), canary_ready=False) == STABLE_ONLY
    assert desired_route(spec, status(-1), canary_ready=False) == STABLE_ONLY  # before the first step
    assert desired_route(spec, status(None), canary_ready=True) == STABLE_ONLY
    assert desired_route(spec, status(2, canary=False), canary_ready=True) == STABLE_ONLY  # no canary model


# --- writing: base rules without matches, with header matches, filters, and independent copies -----------


def test_a_header_rule_of_a_base_rule_without_matches_matches_every_path() -> None:
    route = route_with([STABLE, CANARY])
    patch = rewrite(route, "iris", "ml", step_route(steps({"setHeaderRoute": HEADER}), 0))
    assert patch["spec"]["rules"][0]["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"name": "X-Tenant", "type": "Exact", "value": "beta"}],
        }
    ]
    assert "filters" not in patch["spec"]["rules"][0]


def test_a_header_rule_keeps_the_base_rule_s_own_header_matches() -> None:
    own = {"path": {"type": "PathPrefix", "value": "/v2"}, "headers": [{"name": "X-Api", "value": "2"}]}
    route = route_with([STABLE, CANARY], matches=[own, {"path": {"type": "Exact", "value": "/ping"}}])
    patch = rewrite(route, "iris", "ml", step_route(steps({"setHeaderRoute": HEADER}), 0))
    tenant = {"name": "X-Tenant", "type": "Exact", "value": "beta"}
    assert patch["spec"]["rules"][0]["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/v2"}, "headers": [{"name": "X-Api", "value": "2"}, tenant]},
        {"path": {"type": "Exact", "value": "/ping"}, "headers": [tenant]},
    ]
    assert patch["spec"]["rules"][1]["matches"] == route["spec"]["rules"][0]["matches"]  # the user's, unchanged


def test_a_mirror_rule_keeps_the_user_s_filters_before_the_mirror_and_no_backend_filters() -> None:
    user_filter = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]}}
    backend_filter = {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"add": [{"name": "y", "value": "2"}]},
    }
    route = route_with([STABLE, {**CANARY, "filters": [backend_filter]}], filters=[user_filter])
    patch = rewrite(route, "iris", "ml", step_route(steps({"setMirrorRoute": MIRROR}), 0))
    shadow = patch["spec"]["rules"][0]
    mirror_to = {"name": "iris-canary", "port": 80}  # a mirror's backendRef has no filters (nor a weight)
    assert shadow["filters"] == [
        user_filter,
        {"type": "RequestMirror", "requestMirror": {"backendRef": mirror_to, "percent": 20}},
    ]
    assert "matches" in shadow and shadow["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_the_patch_rules_are_independent_copies() -> None:
    user_filter = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]}}
    route = route_with([STABLE, CANARY], filters=[user_filter])
    before = copy.deepcopy(route)
    state = step_route(steps({"setHeaderRoute": HEADER}, {"setMirrorRoute": MIRROR}), 1)
    patch = rewrite(route, "iris", "ml", state)
    header, mirror, user = patch["spec"]["rules"]
    header["filters"][0]["type"] = "changed"
    mirror["filters"][0]["type"] = "changed"
    mirror["backendRefs"][0]["weight"] = 1
    assert user["filters"] == [user_filter]  # editing a managed rule leaves the user's rule alone
    assert [r["weight"] for r in user["backendRefs"]] == [100, 0]
    assert route == before


def test_a_same_named_service_of_the_route_s_own_namespace_is_not_ours() -> None:
    theirs = {"name": "iris-stable", "port": 80, "weight": 11}  # web/iris-stable: the route's namespace
    route = route_with([theirs, {**STABLE, "namespace": "ml"}, {**CANARY, "namespace": "ml"}])
    route["metadata"]["namespace"] = "web"
    seen = observe_route(route, "iris", "ml")
    assert (seen.stable_weight, seen.canary_weight) == (70, 30)
    patch = rewrite(route, "iris", "ml", RouteState(canary_weight=10))
    assert [r["weight"] for r in patch["spec"]["rules"][0]["backendRefs"]] == [11, 90, 10]


def test_a_route_without_a_namespace_has_no_foreign_backends_in_the_model_deployment_s() -> None:
    route = route_with([{**STABLE, "namespace": "ml"}, {**CANARY, "namespace": "ml"}])
    del route["metadata"]["namespace"]
    assert foreign_backends(route, "iris", "ml") == []
