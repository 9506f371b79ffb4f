"""Canaries through a real Gateway: the sandbox's nginx serves the Gateway API, the operator drives the HTTPRoute,
Prometheus scrapes the model servers, and the analysis decides on what it scraped.

- 5% -> header route -> 25% -> 50%, promoted; at each step ``kubectl get httproute -o yaml`` shows exactly the
  weights ``status.route`` claims, and during the header step every request with the header is answered by
  the canary while the others keep the 95/5 split;
- a canary that errors on live inputs, shown only mirrored traffic, is rolled back before any client got an
  answer from it.
"""

from __future__ import annotations

import http.client
import json
import operator
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import yaml
from mlaiops_demo.traffic import infer_body
from mlaiops_sandbox.testing.gateway import gateway_url
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.e2e.conftest import Cluster, wait_for
from tests.e2e.test_gateway_routing import gateway_api  # noqa: F401 (the fixture: the CRDs installed and served)

pytestmark = pytest.mark.integration
FEATURES = 8


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """v1, v2: logistic regressions; broken: answers 500 to every request (its first step raises TypeError on
    numeric input, the model's own bug, not the client's)."""
    x, y = make_classification(n_samples=1000, n_features=FEATURES, random_state=0)
    folder = tmp_path_factory.mktemp("models")
    broken = Pipeline([("scale", FunctionTransformer(np.negative)), ("model", LogisticRegression())]).fit(x, y)
    broken.steps[0][1].func = operator.truediv
    made = {"v1": LogisticRegression().fit(x, y), "v2": LogisticRegression(C=0.5).fit(x, y), "broken": broken}
    paths = {}
    for version, model in made.items():
        paths[version] = folder / version / "model.joblib"
        paths[version].parent.mkdir()
        joblib.dump(model, paths[version])
    return paths


class Clients:
    """Inference requests through the Gateway from a thread, on one keep-alive connection (as a load generator
    or a service mesh client keeps it): every answer's status and model version."""

    def __init__(self, url: str, rate: float = 40.0) -> None:
        self.url, self.interval = url, 1 / rate
        host, _, rest = url.removeprefix("http://").partition("/")
        self.host, self.path = host, "/" + rest
        self.answers: list[tuple[int, str]] = []
        self._conn: http.client.HTTPConnection | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = np.random.default_rng(0)

    def one(self, headers: dict[str, str] | None = None) -> tuple[int, str]:
        body = infer_body(self._rng, FEATURES)
        for _ in range(2):  # an idle connection nginx closed (a reload) is opened again, as HTTP clients do
            if self._conn is None:
                hostname, port = self.host.split(":")
                self._conn = http.client.HTTPConnection(hostname, int(port), timeout=5)
            try:
                self._conn.request("POST", self.path, body, {"Content-Type": "application/json", **(headers or {})})
                response = self._conn.getresponse()
                payload = response.read()
            except (http.client.HTTPException, OSError):
                self._conn.close()
                self._conn = None
                continue
            if response.status != 200:
                return response.status, ""
            return response.status, str(json.loads(payload).get("model_version", ""))
        return 0, ""

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.answers.append(self.one())

    def start(self) -> Clients:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._conn is not None:
            self._conn.close()


@pytest.fixture
def served(cluster: Cluster, models: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A namespace with the models on its claim, a Gateway ``public`` served by nginx, and an HTTPRoute ``models``
    whose one rule sends everything to ``fraud-stable`` (100) and ``fraud-canary`` (0); yields (namespace, URL)."""
    if cluster.sandbox.gateway is None:
        pytest.skip("the sandbox serves no Gateway API (nginx is not installed)")
    request.getfixturevalue("gateway_api")  # the CRDs installed and served before the first Gateway
    namespace = cluster.namespace("gwc-" + request.node.name.removeprefix("test_")[:30].replace("_", "-").strip("-"))
    claim = cluster.sandbox.dir / "volumes" / namespace / "models"
    for version, path in models.items():
        (claim / version).mkdir(parents=True, exist_ok=True)
        (claim / version / "model.joblib").write_bytes(path.read_bytes())
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "public"},
        "spec": {"gatewayClassName": "sandbox", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
    }
    wait_for(lambda: cluster.apply(gateway, namespace) or True, timeout=30, what="the Gateway API served")
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "models"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [
                {
                    "name": "model",
                    "backendRefs": [
                        {"name": "fraud-stable", "port": 80, "weight": 100},
                        {"name": "fraud-canary", "port": 80, "weight": 0},
                    ],
                }
            ],
        },
    }
    cluster.apply(route, namespace)
    url = wait_for(
        lambda: gateway_url(
            cluster.custom.get_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", namespace, "gateways", "public"
            )
        ),
        timeout=60,
        what="Gateway public Programmed",
    )
    yield namespace, f"{url}/v2/models/fraud/infer"
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def model_deployment(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud"},
        "spec": {
            "model": {"storageUri": "pvc://models/v1/model.joblib", "version": "v1"},
            "replicas": 2,
            "rollout": {"trafficRouting": {"gatewayAPI": {"httpRoute": "models"}}, "canary": {"steps": steps}},
            "analysis": {
                "interval": "2s",
                "failureLimit": 1,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 0.95}}],
            },
        },
    }


def status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return cluster.get("modeldeployments", namespace, "fraud").get("status", {})


def route_yaml(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """The route exactly as ``kubectl get httproute -o yaml`` prints it."""
    found: dict[str, Any] = yaml.safe_load(
        cluster.kubectl("get", "httproute", "models", "-n", namespace, "-o", "yaml").stdout
    )
    return found


def on_route(obj: dict[str, Any]) -> tuple[int, int, tuple[str, ...]]:
    rule = next(r for r in obj["spec"]["rules"] if r.get("name") == "model")
    weights = {ref["name"]: ref.get("weight", 1) for ref in rule["backendRefs"]}
    managed = tuple(r["name"] for r in obj["spec"]["rules"] if r.get("name", "").startswith("mlaiops-"))
    return weights["fraud-stable"], weights["fraud-canary"], managed


def served_by_nginx(obj: dict[str, Any]) -> bool:
    """Whether the sandbox's Gateway wrote the route's status for its current generation (it does once nginx's
    new workers serve it)."""
    parents = (obj.get("status") or {}).get("parents") or []
    generation = obj["metadata"].get("generation")
    return bool(parents) and all(
        c.get("observedGeneration") == generation for parent in parents for c in parent.get("conditions") or []
    )


def claimed(found: dict[str, Any]) -> tuple[Any, Any, tuple[str, ...]]:
    route = found.get("route") or {}
    return route.get("stableWeight"), route.get("canaryWeight"), tuple(route.get("managedRules") or ())


def deploy_v1(cluster: Cluster, namespace: str, steps: list[dict[str, Any]]) -> None:
    cluster.apply(model_deployment(steps), namespace)
    wait_for(
        lambda: (
            status(cluster, namespace).get("phase") == "Ready" and claimed(status(cluster, namespace))[:2] == (100, 0)
        ),
        timeout=90,
        what="v1 Ready with the route at stable 100",
    )


def roll_out(cluster: Cluster, namespace: str, version: str) -> None:
    patch = {"spec": {"model": {"storageUri": f"pvc://models/{version}/model.joblib", "version": version}}}
    cluster.kubectl("patch", "-n", namespace, "md/fraud", "--type=merge", "-p", json.dumps(patch))


HEADER_STEP = {
    "setHeaderRoute": {"name": "beta", "match": [{"headerName": "X-Tenant", "headerValue": {"exact": "beta"}}]},
    "pause": "6s",
}


def test_a_canary_through_the_gateway_is_promoted_with_the_route_showing_what_status_claims(
    cluster: Cluster, served: tuple[str, str]
) -> None:
    namespace, url = served
    deploy_v1(
        cluster,
        namespace,
        [{"weight": 5, "pause": "6s"}, HEADER_STEP, {"weight": 25, "pause": "6s"}, {"weight": 50, "pause": "6s"}],
    )
    clients = Clients(url).start()
    try:
        wait_for(lambda: sum(1 for code, _ in clients.answers if code == 200) >= 20, what="answers through nginx")
        roll_out(cluster, namespace, "v2")
        agreed: dict[int, tuple[Any, ...]] = {}
        header_check: dict[str, list[str]] = {}

        def check_step() -> bool:
            before = status(cluster, namespace)
            shown = on_route(route_yaml(cluster, namespace))
            after = status(cluster, namespace)
            if before != after or claimed(after) != shown:
                return False  # the operator wrote between the reads: look again
            step = after.get("currentStep")
            if step is not None and after.get("stepStartedAt") and step not in agreed:
                agreed[step] = shown
                if step == 1:  # the header route is on the route: once nginx serves it, ask both ways
                    wait_for(lambda: served_by_nginx(route_yaml(cluster, namespace)), what="nginx serving the route")
                    probe = Clients(url)
                    header_check["with"] = [probe.one({"X-Tenant": "beta"})[1] for _ in range(40)]
                    header_check["without"] = [probe.one()[1] for _ in range(40)]
            return (after.get("stableModel") or {}).get("version") == "v2" and not after.get("canaryModel")

        wait_for(check_step, timeout=240, interval=0.3, what="promotion, status and route agreeing at each step")
    finally:
        clients.stop()
    assert agreed == {
        0: (95, 5, ()),
        1: (95, 5, ("mlaiops-beta",)),
        2: (75, 25, ("mlaiops-beta",)),
        3: (50, 50, ("mlaiops-beta",)),
    }
    assert header_check["with"] == ["v2"] * 40  # every request with the header: the canary
    assert header_check["without"].count("v1") >= 35, header_check["without"]  # the rest: 95/5
    final = status(cluster, namespace)
    assert final["history"][0]["outcome"] == "Promoted" and final["history"][0]["reason"] == "AnalysisPassed"
    assert on_route(route_yaml(cluster, namespace)) == (100, 0, ()) == claimed(final)
    answered = [code for code, _ in clients.answers]
    assert answered.count(200) >= 0.99 * len(answered), {code: answered.count(code) for code in set(answered)}
    analysis = {m["name"]: m for m in final.get("analysis") or []}
    assert analysis["request-success-rate"]["successes"] >= 4  # one pass per step, on scraped metrics


def test_a_mirrored_canary_that_errors_is_rolled_back_before_it_answered_anyone(
    cluster: Cluster, served: tuple[str, str]
) -> None:
    namespace, url = served
    steps = [{"setMirrorRoute": {"name": "shadow", "percentage": 100}, "pause": "60s"}, {"weight": 50, "pause": "6s"}]
    deploy_v1(cluster, namespace, steps)
    clients = Clients(url).start()
    routes: list[tuple[int, int, tuple[str, ...]]] = []
    try:
        wait_for(lambda: sum(1 for code, _ in clients.answers if code == 200) >= 20, what="answers through nginx")
        roll_out(cluster, namespace, "broken")

        def rolled_back() -> bool:
            routes.append(on_route(route_yaml(cluster, namespace)))
            history = status(cluster, namespace).get("history") or []
            return bool(history) and history[0].get("version") == "broken"

        try:
            wait_for(rolled_back, timeout=180, interval=0.3, what="the broken canary rolled back")
        except Exception as error:
            endpoint = cluster.core.read_namespaced_service("fraud-canary", namespace).metadata.annotations
            metrics = ""
            try:
                url_c = endpoint["sandbox.mlaiops.dev/endpoint"]
                with urllib.request.urlopen(f"{url_c}/metrics", timeout=5) as response:
                    metrics = "\n".join(x for x in response.read().decode().splitlines() if "requests_total" in x)
            except Exception as problem:
                metrics = repr(problem)
            raise AssertionError(
                f"{error}; status: {json.dumps(status(cluster, namespace))}; route: {json.dumps(route_yaml(cluster, namespace))}; "
                f"canary metrics: {metrics}"
            ) from None
    finally:
        clients.stop()
    final = status(cluster, namespace)
    assert final["history"][0]["outcome"] == "RolledBack" and final["history"][0]["reason"] == "AnalysisFailed"
    assert "request-success-rate" in final["history"][0]["message"]
    assert (0, ("mlaiops-shadow",)) in {(canary, rules) for _, canary, rules in routes}  # it was mirrored to
    assert all(canary == 0 for _, canary, _ in routes)  # never a weight: no client was routed to it
    versions = {version for code, version in clients.answers if code == 200}
    assert versions == {"v1"}, versions  # every answer any client got came from stable
    codes = [code for code, _ in clients.answers]
    assert codes.count(200) >= 0.99 * len(codes), {code: codes.count(code) for code in set(codes)}
    wait_for(lambda: on_route(route_yaml(cluster, namespace)) == (100, 0, ()), what="mirror rule removed")
