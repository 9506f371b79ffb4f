"""The rollout state machine with Gateway API routing, tick by tick against a fake cluster, route and clock.

The fake route does what the controller makes it do: after each plan it carries ``plan.route`` unless
a write is made to fail, and then it keeps what it had.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaiops.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from mlaiops.resources.modelserver import ResolvedModel
from mlaiops.rollout.canary import Observed, Plan, plan_rollout, route_status
from mlaiops.rollout.routing import STABLE_ONLY, RouteObservation, RouteProblem, RouteState
from tests.unit.rollout import test_canary as canary_tests

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
V1 = ResolvedModel("file:///m/v1.joblib", "v1")
V2 = ResolvedModel("file:///m/v2.joblib", "v2")
HEADER = {"name": "beta", "match": [{"headerName": "X-Tenant", "headerValue": {"exact": "beta"}}]}
MIRROR = {"name": "shadow", "percentage": 50}


def make_spec(steps: list[dict[str, Any]] | None = None, replicas: int = 3) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {
            "model": {"storageUri": "file:///m/v1.joblib"},
            "replicas": replicas,
            "rollout": {
                "trafficRouting": {"gatewayAPI": {"httpRoute": "iris"}},
                "canary": {"steps": steps or [{"weight": 5, "pause": "1m"}, {"weight": 25, "pause": "1m"}]},
            },
            "analysis": {
                "interval": "30s",
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 0.99}}],
            },
        }
    )


def shown(state: RouteState, problem: RouteProblem | None = None) -> RouteObservation:
    return RouteObservation(
        stable_weight=100 - state.canary_weight,
        canary_weight=state.canary_weight,
        rules=state.rule_names(),
        rule="model",
        problem=problem,
    )


class Cluster(canary_tests.Cluster):
    """Pods become what the plan says; the route becomes ``plan.route`` unless ``route_fails`` or a problem."""

    def __init__(self, spec: ModelDeploymentSpec) -> None:
        super().__init__(spec)
        self.now = T0
        self.route = shown(STABLE_ONLY)
        self.problem: RouteProblem | None = None
        self.route_fails = False
        self.routes: list[RouteObservation] = []

    def tick(  # type: ignore[override]  # the gateway tests start from v2 and never ask for a rollback
        self, desired: ResolvedModel | None = V2, outcome: str | None = None, seconds: float = 30, ready: bool = True
    ) -> Plan:
        return super().tick(desired, outcome, seconds, ready=ready)

    def observation(self) -> Observed:
        route = RouteObservation(problem=self.problem) if self.problem else self.route
        return replace(self.observed, route=route)

    def observe(self, plan: Plan, ready: bool) -> Observed:
        """As the base, but an unready canary leaves stable Ready; the route follows the plan when it can."""
        if plan.route is not None and self.problem is None and not self.route_fails:
            self.route = shown(plan.route)
        self.routes.append(self.route)
        observed = super().observe(plan, ready=True)
        return observed if ready else replace(observed, canary_ready=0)


def deployed(spec: ModelDeploymentSpec | None = None) -> Cluster:
    cluster = Cluster(spec or make_spec())
    cluster.tick(V1)
    cluster.tick(V1)
    assert cluster.status is not None and cluster.status.phase == "Ready"
    return cluster


def test_stable_only_routes_everything_to_stable_and_says_so() -> None:
    cluster = deployed()
    plan = cluster.tick(V1)
    assert all(p.route is not None for p in cluster.plans)  # Gateway API routing plans the route every tick
    assert plan.route == STABLE_ONLY and plan.status.traffic_routing == "GatewayAPI"
    assert plan.status.route is not None and (plan.status.route.stable_weight, plan.status.route.canary_weight) == (
        100,
        0,
    )
    assert plan.status.canary_weight is None
    assert cluster.condition("TrafficRouted") == ("True", "RouteDriven")


def test_exact_weights_with_replicas_independent_of_them() -> None:
    cluster = deployed()
    plan = cluster.tick()  # canary created: its pod is not Ready, the route stays stable-only
    assert (plan.stable_replicas, plan.canary_replicas) == (3, 1)  # 5% of 3 replicas: one canary pod
    assert plan.route == STABLE_ONLY and plan.status.step_started_at is None
    plan = cluster.tick()  # canary pod Ready: the route is written with 5%, the step waits to see it
    assert plan.route == RouteState(canary_weight=5) and plan.status.step_started_at is None
    assert plan.status.canary_weight == 0  # status says what the route carried, not the plan
    plan = cluster.tick()  # the route shows 5%: the step's pause and analysis start
    assert plan.status.step_started_at is not None and plan.status.canary_weight == 5
    assert plan.status.route is not None and (plan.status.route.stable_weight, plan.status.route.canary_weight) == (
        95,
        5,
    )
    cluster.tick(outcome="Successful")
    plan = cluster.tick(outcome="Successful")
    assert plan.status.current_step == 1 and (plan.stable_replicas, plan.canary_replicas) == (3, 1)
    assert plan.route == RouteState(canary_weight=25)
    assert "25%" in plan.events[-1].message


def promoted(cluster: Cluster) -> Plan:
    for _ in range(12):
        plan = cluster.tick(outcome="Successful")
        if plan.status.canary_model is None:
            return plan
    raise AssertionError("never promoted")


def test_promotion_gives_stable_100_and_removes_the_managed_rules() -> None:
    cluster = deployed(make_spec([{"setHeaderRoute": HEADER, "pause": "30s"}, {"weight": 50, "pause": "30s"}]))
    plan = cluster.tick()
    assert (plan.stable_replicas, plan.canary_replicas) == (3, 1)  # a header step (weight 0) still has a server
    cluster.tick()
    assert cluster.route.rules == ("mlaiops-beta",) and cluster.route.canary_weight == 0
    plan = promoted(cluster)
    assert plan.status.history is not None and plan.status.history[0].outcome == "Promoted"
    assert plan.route == STABLE_ONLY and cluster.route == shown(STABLE_ONLY)
    assert cluster.routes[-2].rules == ("mlaiops-beta",) and cluster.routes[-2].canary_weight == 50


def test_a_failing_mirrored_canary_is_rolled_back_without_ever_answering() -> None:
    cluster = deployed(make_spec([{"setMirrorRoute": MIRROR, "pause": "5m"}, {"weight": 50}]))
    cluster.tick()
    cluster.tick()
    plan = cluster.tick()
    assert plan.status.step_started_at is not None and cluster.route.rules == ("mlaiops-shadow",)
    cluster.tick(outcome="Failed")
    plan = cluster.tick(outcome="Failed")
    assert plan.status.canary_model is None and plan.status.history is not None
    assert plan.status.history[0].reason == "AnalysisFailed"
    assert plan.route == STABLE_ONLY and cluster.route == shown(STABLE_ONLY)
    assert all(route.canary_weight == 0 for route in cluster.routes)  # never a client's answer from it


def test_a_route_problem_holds_the_rollout_and_names_the_route() -> None:
    cluster = deployed()
    cluster.problem = RouteProblem("NoMatchingRule", "HTTPRoute ml/iris has no rule whose backendRefs name ...")
    for _ in range(30):  # 15 minutes: past progressDeadline, still held, never rolled back
        plan = cluster.tick()
    assert plan.status.canary_model is not None and plan.status.step_started_at is None
    assert cluster.condition("TrafficRouted") == ("False", "NoMatchingRule")
    assert cluster.condition("Progressing") == ("True", "NoMatchingRule")
    progressing = next(c for c in plan.status.conditions or [] if c.type == "Progressing")
    assert "HTTPRoute ml/iris" in progressing.message and "stable keeps its traffic" in progressing.message
    assert cluster.route == shown(STABLE_ONLY)
    assert "RolledBack" not in cluster.events()
    cluster.problem = None  # fixed: the rollout goes on
    cluster.tick()
    plan = cluster.tick()
    assert plan.status.step_started_at is not None and cluster.condition("TrafficRouted") == ("True", "RouteDriven")


def test_a_failed_write_never_starts_the_step() -> None:
    cluster = deployed()
    cluster.route_fails = True
    for _ in range(6):
        plan = cluster.tick()
    assert plan.status.step_started_at is None and plan.status.canary_weight == 0
    assert cluster.route == shown(STABLE_ONLY)


def test_a_write_failure_stands_until_a_write_succeeds() -> None:
    """The controller records a refused write after the plan; the next plan reads a fine route but must not
    flip TrafficRouted back to True before its own write (the condition would flap every tick)."""
    cluster = deployed()
    cluster.tick()
    cluster.route_fails = True
    plan = cluster.tick()  # the canary is Ready: this tick's route is 5%, and its write is refused
    assert plan.route == RouteState(canary_weight=5) and cluster.route == shown(STABLE_ONLY)
    failed = RouteObservation(100, 0, (), "model", RouteProblem("RouteWriteFailed", "HTTPRoute ml/iris: 422"))
    route_status(cluster.spec, plan.status, failed, cluster.now, 1, plan.route)
    since = next(c for c in plan.status.conditions or [] if c.type == "TrafficRouted").last_transition_time
    assert cluster.condition("TrafficRouted") == ("False", "RouteWriteFailed")
    plan = cluster.tick()
    assert cluster.condition("TrafficRouted") == ("False", "RouteWriteFailed")
    assert next(c for c in plan.status.conditions or [] if c.type == "TrafficRouted").last_transition_time == since
    cluster.route_fails = False
    cluster.tick()  # written now
    cluster.tick()  # read back: the route shows the step
    assert cluster.condition("TrafficRouted") == ("True", "RouteDriven")


def test_replica_ratio_routing_says_so_and_plans_no_route() -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"storageUri": "file:///m/v1.joblib"}, "replicas": 4})
    plan = plan_rollout(spec, None, V1, Observed(), T0, 1)
    assert plan.route is None and plan.status.traffic_routing == "ReplicaRatio" and plan.status.route is None


def condition(status: ModelDeploymentStatus, kind: str) -> Any:
    return next(c for c in status.conditions or [] if c.type == kind)


def test_route_conditions_carry_the_time_and_generation_of_the_tick() -> None:
    cluster = deployed()
    plan = cluster.tick(V1)
    routed = condition(plan.status, "TrafficRouted")
    assert routed.observed_generation == 1 and routed.last_transition_time == T0
    assert routed.message == "HTTPRoute iris rule model: stable 100, canary 0"
    assert plan.status.route is not None and (plan.status.route.http_route, plan.status.route.rule) == ("iris", "model")
    assert plan.status.route.managed_rules is None  # none on the route: left out
    cluster.tick()
    problem = RouteProblem("GatewayNotFound", "HTTPRoute ml/iris: parent Gateway ml/public not found")
    cluster.problem = problem
    plan = cluster.tick()
    routed, progressing = condition(plan.status, "TrafficRouted"), condition(plan.status, "Progressing")
    assert (routed.status, routed.reason, routed.message) == ("False", "GatewayNotFound", problem.message)
    assert routed.last_transition_time == cluster.now - timedelta(seconds=30) and routed.observed_generation == 1
    assert (progressing.status, progressing.reason) == ("True", "GatewayNotFound")


def test_route_status_holds_only_a_live_canary_and_records_managed_rules() -> None:
    spec = make_spec([{"setHeaderRoute": HEADER}, {"weight": 50}])
    status = ModelDeploymentStatus()
    problem = RouteProblem("RouteWriteFailed", "HTTPRoute ml/iris: weights not written (403 Forbidden)")
    route_status(spec, status, RouteObservation(problem=problem), T0, 3)
    assert [c.type for c in status.conditions or []] == ["TrafficRouted"]  # no canary: nothing to hold
    status.canary_model = ModelDeploymentStatus.model_validate({"canaryModel": {"version": "v2"}}).canary_model
    route_status(spec, status, RouteObservation(problem=problem), T0, 3)
    progressing = condition(status, "Progressing")
    assert (
        progressing.status,
        progressing.reason,
        progressing.last_transition_time,
        progressing.observed_generation,
    ) == (
        "True",
        "RouteWriteFailed",
        T0,
        3,
    )
    assert progressing.message == f"rollout held, stable keeps its traffic: {problem.message}"
    status = ModelDeploymentStatus()
    route_status(spec, status, RouteObservation(100, 0, ("mlaiops-beta",), "model"), T0, 3)
    assert status.route is not None and status.route.managed_rules == ["mlaiops-beta"]


def test_pods_created_but_not_ready_get_no_traffic() -> None:
    cluster = deployed()
    cluster.tick(ready=False)  # the canary Deployment exists with its replica, not Ready
    plan = cluster.tick(ready=False)
    assert plan.route == STABLE_ONLY and plan.status.step_started_at is None


def test_leaving_gateway_routing_drops_its_status() -> None:
    cluster = deployed()
    assert cluster.status is not None and cluster.status.route is not None
    cluster.spec = ModelDeploymentSpec.model_validate({"model": {"storageUri": "file:///m/v1.joblib"}, "replicas": 3})
    plan = cluster.tick(V1)
    assert plan.status.route is None and plan.route is None and plan.status.traffic_routing == "ReplicaRatio"
    assert "TrafficRouted" not in [c.type for c in plan.status.conditions or []]


def test_replica_ratio_routing_ignores_any_route_observation() -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"storageUri": "file:///m/v1.joblib"}, "replicas": 4})
    cluster = Cluster(spec)
    cluster.problem = RouteProblem("RouteNotFound", "not used")
    cluster.tick(V1)
    cluster.tick(V1)
    cluster.tick()
    plan = cluster.tick()
    assert plan.route is None and plan.status.step_started_at is not None  # not held by a route it does not use
    assert condition(plan.status, "Progressing").reason == "CanaryProgressing"


def test_traffic_routed_sorts_before_conditions_of_other_controllers() -> None:
    cluster = deployed()
    assert cluster.status is not None
    extra = ModelDeploymentStatus.model_validate(
        {"conditions": [{"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "lastTransitionTime": T0}]}
    )
    cluster.status.conditions = [c for c in cluster.status.conditions or [] if c.type != "TrafficRouted"]
    cluster.status.conditions += extra.conditions or []
    plan = cluster.tick(V1)
    types = [c.type for c in plan.status.conditions or []]
    assert types.index("TrafficRouted") < types.index("ResolvedRefs"), types
