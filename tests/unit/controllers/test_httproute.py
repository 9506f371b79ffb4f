"""The route I/O of the ModelDeployment controller against a fake API: what is read, the one guarded write,
and refused writes (409 conflict, 422 invalid, 403 forbidden) that change nothing and say why."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.controllers.httproute import read_route, write_route
from mlaiops.rollout.routing import STABLE_ONLY, RouteState
from tests.unit.rollout.test_routing import user_route

SPEC = ModelDeploymentSpec.model_validate(
    {
        "model": {"storageUri": "file:///m/a.joblib"},
        "rollout": {"trafficRouting": {"gatewayAPI": {"httpRoute": "iris"}}},
    }
)


class FakeKube:
    """Objects by (kind, namespace, name); a patch fails with ``refuse`` or on a stale resourceVersion."""

    def __init__(self, *objects: dict[str, Any], refuse: int | None = None) -> None:
        self.objects = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.refuse = refuse
        self.patches: list[dict[str, Any]] = []
        self.lists: list[tuple[str, str]] = []

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    def list(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        self.lists.append((kind, namespace))
        return [copy.deepcopy(o) for (k, ns, _), o in self.objects.items() if k == kind and ns == namespace]

    def patch(self, api_version: str, kind: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append(body)
        current = self.objects[(kind, namespace, name)]
        if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        if self.refuse is not None:
            error = ApiException(
                status=self.refuse, reason={422: "Unprocessable Entity", 403: "Forbidden"}[self.refuse]
            )
            error.body = json.dumps({"message": f"refused with {self.refuse}"})
            raise error
        current["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        current["spec"]["rules"] = body["spec"]["rules"]
        current["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(current)


GATEWAY = {"kind": "Gateway", "metadata": {"namespace": "ml", "name": "public"}}


def test_a_route_is_read_written_once_and_then_left_alone() -> None:
    kube = FakeKube(user_route(), GATEWAY)
    seen, route = read_route(kube, SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert route is not None and seen.problem is None and (seen.stable_weight, seen.canary_weight) == (100, 0)
    written = write_route(kube, route, "iris", "ml", RouteState(canary_weight=5), seen)  # type: ignore[arg-type]
    assert written.problem is None and (written.stable_weight, written.canary_weight) == (95, 5)
    assert kube.patches[0]["metadata"]["resourceVersion"] == "7"
    seen, route = read_route(kube, SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert route is not None
    write_route(kube, route, "iris", "ml", RouteState(canary_weight=5), seen)  # type: ignore[arg-type]
    assert len(kube.patches) == 1  # already there: no write
    assert kube.lists == []  # no foreign backend: no ReferenceGrant is listed


def test_an_unowned_route_that_already_shows_the_state_is_still_claimed() -> None:
    kube = FakeKube(user_route(), GATEWAY)
    seen, route = read_route(kube, SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert route is not None
    write_route(kube, route, "iris", "ml", STABLE_ONLY, seen)  # type: ignore[arg-type]
    assert kube.patches and kube.patches[0]["metadata"]["annotations"] == {
        "mlaiops.dev/managed-by": "ModelDeployment/iris"
    }


@pytest.mark.parametrize(
    ("refuse", "text"),
    [(422, "(422 Unprocessable Entity: refused with 422)"), (403, "(403 Forbidden: refused with 403)")],
)
def test_a_refused_write_changes_nothing_and_says_why(refuse: int, text: str) -> None:
    kube = FakeKube(user_route(), GATEWAY, refuse=refuse)
    seen, route = read_route(kube, SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert route is not None
    written = write_route(kube, route, "iris", "ml", RouteState(canary_weight=25), seen)  # type: ignore[arg-type]
    assert written.problem is not None and written.problem.reason == "RouteWriteFailed"
    assert written.problem.message == f"HTTPRoute ml/iris: weights not written {text}"
    assert (written.stable_weight, written.canary_weight) == (100, 0)  # what the route still carries
    assert kube.objects[("HTTPRoute", "ml", "iris")]["spec"]["rules"] == user_route()["spec"]["rules"]


def test_a_route_changed_since_it_was_read_is_not_overwritten() -> None:
    kube = FakeKube(user_route(), GATEWAY)
    seen, route = read_route(kube, SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert route is not None
    kube.objects[("HTTPRoute", "ml", "iris")]["metadata"]["resourceVersion"] = "8"  # a GitOps sync meanwhile
    written = write_route(kube, route, "iris", "ml", RouteState(canary_weight=25), seen)  # type: ignore[arg-type]
    assert written.problem is not None and "409 Conflict" in written.problem.message
    assert kube.objects[("HTTPRoute", "ml", "iris")]["spec"]["rules"] == user_route()["spec"]["rules"]


def test_a_failed_read_is_a_problem_not_a_crash() -> None:
    class Broken(FakeKube):
        def get(self, *args: Any) -> dict[str, Any] | None:
            raise ApiException(status=403, reason="Forbidden")

    seen, route = read_route(Broken(), SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert route is None and seen.problem is not None
    assert (seen.problem.reason, seen.problem.message) == (
        "RouteReadFailed",
        "HTTPRoute ml/iris not read: 403 Forbidden",
    )


def test_missing_gateway_and_reference_grants_are_read_for_the_check() -> None:
    route = user_route()
    route["spec"]["rules"][1]["backendRefs"].append({"name": "fb", "namespace": "shared", "port": 80, "weight": 0})
    kube = FakeKube(route)
    seen, found = read_route(kube, SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert found is None and seen.problem is not None and seen.problem.reason == "RefNotPermitted"
    assert kube.lists == [("ReferenceGrant", "shared")]
    kube = FakeKube(user_route())
    seen, found = read_route(kube, SPEC, "ml", "iris")  # type: ignore[arg-type]
    assert seen.problem is not None and seen.problem.reason == "GatewayNotFound"
