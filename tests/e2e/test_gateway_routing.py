"""Gateway API routing, the operator side, on the sandbox: the real operator (RBAC enforced) drives an HTTPRoute
of the upstream Gateway API CRDs, and the route carries exactly the weights its status claims.

No data plane here (the sandbox's nginx Gateway is tested on its own): what is tested is what the operator
reads and writes, including the bad input that must hold a rollout with stable at 100%.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from mlaiops_sandbox.testing import Kubectl
from mlaiops_sandbox.testing.gateway import install_gateway_api
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from tests.e2e.conftest import ROOT, Cluster, roll_out, wait_for

pytestmark = pytest.mark.integration
GATEWAY_API = ("gateway.networking.k8s.io", "v1")


# Upstream's unchanged CRDs beside the repository (the project keeps no copy), applied as a cluster operator would.
GATEWAY_API_CRDS = ROOT.parent / "shared" / "gateway-api"


@pytest.fixture(scope="module")
def gateway_api(cluster: Cluster) -> None:
    if not GATEWAY_API_CRDS.is_dir():
        pytest.skip(f"the upstream Gateway API CRDs are not at {GATEWAY_API_CRDS}")
    install_gateway_api(Kubectl(cluster.kubeconfig), GATEWAY_API_CRDS)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    x, y = make_classification(n_samples=400, n_features=4, random_state=0)
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for version, c in (("v1", 1.0), ("v2", 0.5)):
        paths[version] = folder / version / "model.joblib"
        paths[version].parent.mkdir()
        joblib.dump(LogisticRegression(C=c).fit(x, y), paths[version])
    return paths


@pytest.fixture
def namespace(cluster: Cluster, gateway_api: None, model_files: dict[str, Path], request: Any) -> Iterator[str]:
    name = cluster.namespace("gw-" + request.node.name.removeprefix("test_")[:40].replace("_", "-").strip("-"))
    claim = cluster.sandbox.dir / "volumes" / name / "models"
    for version, path in model_files.items():
        (claim / version).mkdir(parents=True, exist_ok=True)
        (claim / version / "model.joblib").write_bytes(path.read_bytes())
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def model_deployment(name: str, steps: list[dict[str, Any]], route: str = "models") -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"storageUri": "pvc://models/v1/model.joblib", "version": "v1"},
            "replicas": 2,
            "rollout": {"trafficRouting": {"gatewayAPI": {"httpRoute": route}}, "canary": {"steps": steps}},
        },
    }


def http_route(name: str, md: str, extra_rules: int = 0) -> dict[str, Any]:
    rules = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": f"/other{i}"}}],
            "backendRefs": [{"name": "x", "port": 80}],
        }
        for i in range(extra_rules)
    ]
    rules.append(
        {
            "name": "model",
            "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}],
            "backendRefs": [
                {"name": f"{md}-stable", "port": 80, "weight": 100},
                {"name": f"{md}-canary", "port": 80, "weight": 0},
            ],
        }
    )
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "labels": {"owner": "gitops"}},
        "spec": {"parentRefs": [{"name": "public"}], "hostnames": ["models.example"], "rules": rules},
    }


GATEWAY = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "public"},
    "spec": {"gatewayClassName": "sandbox", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
}


def status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.get("modeldeployments", namespace, name).get("status", {})


def route(cluster: Cluster, namespace: str, name: str = "models") -> dict[str, Any]:
    """The route as ``kubectl get httproute -o yaml`` shows it."""
    return json.loads(cluster.kubectl("get", "httproute", name, "-n", namespace, "-o", "json").stdout)


def weights(obj: dict[str, Any], md: str) -> tuple[int, int, tuple[str, ...]]:
    """(stable, canary, managed rule names) on the route."""
    rule = next(r for r in obj["spec"]["rules"] if r.get("name") == "model")
    by_name = {ref["name"]: ref.get("weight", 1) for ref in rule["backendRefs"]}
    managed = tuple(r["name"] for r in obj["spec"]["rules"] if r.get("name", "").startswith("mlaiops-"))
    return by_name[f"{md}-stable"], by_name[f"{md}-canary"], managed


def routed(cluster: Cluster, namespace: str, name: str) -> tuple[str, str, str]:
    found = next(c for c in status(cluster, namespace, name).get("conditions", []) if c["type"] == "TrafficRouted")
    return found["status"], found["reason"], found["message"]


def agreed(cluster: Cluster, namespace: str, md: str) -> tuple[dict[str, Any], tuple[int, int, tuple[str, ...]]] | None:
    """Status and route, when the status's route weights are exactly those on the route (read on both sides)."""
    before = status(cluster, namespace, md)
    on_route = weights(route(cluster, namespace), md)
    after = status(cluster, namespace, md)
    claimed = after.get("route") or {}
    said = (claimed.get("stableWeight"), claimed.get("canaryWeight"), tuple(claimed.get("managedRules") or ()))
    return (after, on_route) if before == after and said == on_route else None


STEPS = [
    {"weight": 5, "pause": "3s"},
    {
        "setHeaderRoute": {"name": "beta", "match": [{"headerName": "X-Tenant", "headerValue": {"exact": "beta"}}]},
        "pause": "3s",
    },
    {"setMirrorRoute": {"name": "shadow", "percentage": 50}, "pause": "3s"},
    {"weight": 50, "pause": "3s"},
]


def test_missing_route_then_gateway_then_a_canary_with_exact_weights_header_and_mirror(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(model_deployment("fraud", STEPS), namespace)
    wait_for(lambda: routed(cluster, namespace, "fraud")[1] == "RouteNotFound", what="RouteNotFound")
    assert routed(cluster, namespace, "fraud") == (
        "False",
        "RouteNotFound",
        f"HTTPRoute {namespace}/models not found (spec.rollout.trafficRouting.gatewayAPI.httpRoute)",
    )
    wait_for(lambda: status(cluster, namespace, "fraud").get("phase") == "Ready", what="v1 Ready without a route")
    assert status(cluster, namespace, "fraud")["trafficRouting"] == "GatewayAPI"

    cluster.apply(http_route("models", "fraud"), namespace)
    wait_for(lambda: routed(cluster, namespace, "fraud")[1] == "GatewayNotFound", what="GatewayNotFound")
    assert (
        routed(cluster, namespace, "fraud")[2]
        == f"HTTPRoute {namespace}/models: parent Gateway {namespace}/public not found"
    )
    cluster.apply(GATEWAY, namespace)
    wait_for(lambda: routed(cluster, namespace, "fraud")[1] == "RouteDriven", what="RouteDriven")
    owned = route(cluster, namespace)
    assert owned["metadata"]["annotations"]["mlaiops.dev/managed-by"] == "ModelDeployment/fraud"
    assert owned["metadata"]["labels"] == {"owner": "gitops"} and owned["spec"]["hostnames"] == ["models.example"]

    roll_out(cluster, namespace, "fraud")
    seen: dict[int, tuple[int, int, tuple[str, ...]]] = {}
    shadow: list[dict[str, Any]] = []

    def step_agreed() -> bool:
        found = agreed(cluster, namespace, "fraud")
        if found is not None and found[0].get("currentStep") is not None and found[0].get("stepStartedAt"):
            seen.setdefault(found[0]["currentStep"], found[1])
            if found[0]["currentStep"] == 2 and not shadow:
                shadow.extend(
                    r for r in route(cluster, namespace)["spec"]["rules"] if r.get("name") == "mlaiops-shadow"
                )
        return (
            found is not None
            and (found[0].get("stableModel") or {}).get("version") == "v2"
            and not found[0].get("canaryModel")
        )

    wait_for(step_agreed, timeout=120, interval=0.2, what="promotion, status and route agreeing at each step")
    assert seen == {
        0: (95, 5, ()),
        1: (95, 5, ("mlaiops-beta",)),
        2: (95, 5, ("mlaiops-beta", "mlaiops-shadow")),
        3: (50, 50, ("mlaiops-beta", "mlaiops-shadow")),
    }
    final = status(cluster, namespace, "fraud")
    assert final["history"][0]["outcome"] == "Promoted" and final["stableModel"]["version"] == "v2"
    assert weights(route(cluster, namespace), "fraud") == (100, 0, ())
    assert shadow and shadow[0]["filters"][-1] == {  # copies to the canary; answers from the weighted backends
        "type": "RequestMirror",
        "requestMirror": {
            "backendRef": {"group": "", "kind": "Service", "name": "fraud-canary", "port": 80},
            "percent": 50,
        },
    }
    assert [ref["weight"] for ref in shadow[0]["backendRefs"]] == [95, 5]


def test_a_route_another_model_deployment_drives_is_left_alone(cluster: Cluster, namespace: str) -> None:
    cluster.apply(GATEWAY, namespace)
    cluster.apply(http_route("models", "fraud"), namespace)
    cluster.apply(model_deployment("fraud", [{"weight": 10, "pause": "3s"}]), namespace)
    wait_for(lambda: routed(cluster, namespace, "fraud")[1] == "RouteDriven", what="fraud drives the route")
    cluster.apply(model_deployment("rival", [{"weight": 10, "pause": "3s"}]), namespace)
    wait_for(lambda: routed(cluster, namespace, "rival")[1] == "RouteManagedElsewhere", what="refused")
    assert routed(cluster, namespace, "rival")[2] == (
        f"HTTPRoute {namespace}/models is driven by ModelDeployment/fraud (mlaiops.dev/managed-by)"
    )
    assert route(cluster, namespace)["metadata"]["annotations"]["mlaiops.dev/managed-by"] == "ModelDeployment/fraud"


def test_a_route_without_our_services_holds_the_canary(cluster: Cluster, namespace: str) -> None:
    cluster.apply(GATEWAY, namespace)
    cluster.apply(http_route("models", "someone-else"), namespace)
    cluster.apply(model_deployment("fraud", [{"weight": 10, "pause": "3s"}]), namespace)
    wait_for(lambda: status(cluster, namespace, "fraud").get("phase") == "Ready", what="v1 Ready")
    roll_out(cluster, namespace, "fraud")
    wait_for(lambda: status(cluster, namespace, "fraud").get("canaryModel"), what="canary started")
    progressing = wait_for(
        lambda: next(
            (
                c
                for c in status(cluster, namespace, "fraud").get("conditions", [])
                if c["type"] == "Progressing" and c["reason"] == "NoMatchingRule"
            ),
            None,
        ),
        what="held on NoMatchingRule",
    )
    assert f"HTTPRoute {namespace}/models has no rule" in progressing["message"]
    assert "stable keeps its traffic" in progressing["message"]
    held = status(cluster, namespace, "fraud")
    assert held.get("stepStartedAt") is None and held.get("canaryWeight") in (None, 0)
    assert weights(route(cluster, namespace), "someone-else")[:2] == (100, 0)  # not touched


def test_a_refused_write_holds_the_step_and_keeps_the_route_as_it_was(cluster: Cluster, namespace: str) -> None:
    """15 user rules + the driven one: a header rule would make 17, over the CRD's maxItems (16): 422."""
    cluster.apply(GATEWAY, namespace)
    cluster.apply(http_route("models", "fraud", extra_rules=15), namespace)
    steps = [
        {"weight": 5, "pause": "2s"},
        {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "X-Tenant", "headerValue": {"exact": "b"}}]}},
    ]
    cluster.apply(model_deployment("fraud", steps), namespace)
    wait_for(lambda: status(cluster, namespace, "fraud").get("phase") == "Ready", what="v1 Ready")
    roll_out(cluster, namespace, "fraud")
    wait_for(lambda: routed(cluster, namespace, "fraud")[1] == "RouteWriteFailed", timeout=90, what="write refused")
    _, message = routed(cluster, namespace, "fraud")[1:]
    assert message.startswith(f"HTTPRoute {namespace}/models: weights not written (422 ")
    held = status(cluster, namespace, "fraud")
    assert held["currentStep"] == 1 and held.get("stepStartedAt") is None and held["canaryWeight"] == 5
    assert weights(route(cluster, namespace), "fraud") == (95, 5, ())  # what step 0 wrote, nothing half-written


def test_a_backend_in_another_namespace_needs_a_reference_grant(cluster: Cluster, namespace: str) -> None:
    shared = cluster.namespace("gw-shared-backends")
    cluster.apply(GATEWAY, namespace)
    foreign = http_route("models", "fraud")
    foreign["spec"]["rules"][0]["backendRefs"].append(
        {"name": "fallback", "namespace": shared, "port": 80, "weight": 0}
    )
    cluster.apply(foreign, namespace)
    cluster.apply(model_deployment("fraud", [{"weight": 10, "pause": "3s"}]), namespace)
    wait_for(lambda: routed(cluster, namespace, "fraud")[1] == "RefNotPermitted", what="RefNotPermitted")
    assert routed(cluster, namespace, "fraud")[2] == (
        f"HTTPRoute {namespace}/models refers to Service {shared}/fallback and no ReferenceGrant in {shared} allows it"
    )
    assert "mlaiops.dev/managed-by" not in route(cluster, namespace)["metadata"]["annotations"]  # never written
    grant = {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": f"from-{namespace}"},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": namespace}],
            "to": [{"group": "", "kind": "Service", "name": "fallback"}],
        },
    }
    cluster.apply(grant, shared)
    wait_for(lambda: routed(cluster, namespace, "fraud")[1] == "RouteDriven", what="granted, then driven")
