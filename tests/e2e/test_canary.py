"""Progressive delivery on real parts: `mlaiops serve` pods as local processes, real Prometheus scraping
them, the operator analysing canaries with PromQL, promoting good models and rolling back a bad one.

The bad model is genuinely slow (a forest of 3,000 trees walked for every request), not switched by
a test flag: the server is the same for every model.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
from mlaiops_demo.data import slow_model
from mlaiops_demo.traffic import Traffic
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from tests.e2e.conftest import Cluster, roll_out, wait_for

pytestmark = pytest.mark.integration
FEATURES = 8


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """v1 and v2: fast logistic regressions; v3: a slow but accurate forest of 3,000 trees."""
    x, y = make_classification(n_samples=4000, n_features=FEATURES, random_state=0)
    folder = tmp_path_factory.mktemp("models")
    made = {
        "v1": LogisticRegression().fit(x[:2000], y[:2000]),
        "v2": LogisticRegression(C=0.5).fit(x[:4000], y[:4000]),
    }
    paths = {}
    for version, model in made.items():
        paths[version] = folder / version / "model.joblib"
        paths[version].parent.mkdir()
        joblib.dump(model, paths[version])
    paths["v3"] = folder / "v3" / "model.joblib"
    slow_model(paths["v3"], features=FEATURES, trees=3000)  # about 265 ms a prediction: well over the 100 ms bar
    return paths


def publish(cluster: Cluster, namespace: str, models: dict[str, Path]) -> None:
    """Put the model files on the 'models' claim of the namespace (the sandbox keeps claims as folders)."""
    claim = cluster.sandbox.dir / "volumes" / namespace / "models"
    for version, path in models.items():
        (claim / version).mkdir(parents=True, exist_ok=True)
        (claim / version / "model.joblib").write_bytes(path.read_bytes())


def manifest(version: str) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud"},
        "spec": {
            "model": {"storageUri": f"pvc://models/{version}/model.joblib", "version": version},
            "replicas": 2,
            "rollout": {"strategy": "Canary", "canary": {"steps": [{"weight": 50, "pause": "4s"}]}},
            "analysis": {
                "interval": "2s",
                "failureLimit": 1,
                "consecutiveErrorLimit": 2,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 0.95}},
                    # p99 of the interval: the logistic regressions answer in a few ms, the forest in about
                    # 150 ms; 100 ms leaves a loaded CI machine's stalls on the right side of the line.
                    {"name": "request-duration", "thresholdRange": {"max": 0.1}},
                ],
            },
        },
    }


def serve_v1(cluster: Cluster, namespace: str, models: dict[str, Path], md: dict) -> str:
    """Publish the models, apply ModelDeployment ``fraud`` at v1, wait for it to be Ready; its infer URL."""
    publish(cluster, namespace, models)
    cluster.apply(md, namespace)
    wait_for(
        lambda: cluster.get("modeldeployments", namespace, "fraud")["status"].get("phase") == "Ready",
        timeout=60,
        what="v1 Ready",
    )
    service = cluster.core.read_namespaced_service("fraud", namespace)
    return f"{service.metadata.annotations['sandbox.mlaiops.dev/endpoint']}/v2/models/fraud/infer"


@pytest.fixture
def deployed(
    cluster: Cluster, models: dict[str, Path], request: pytest.FixtureRequest
) -> Iterator[tuple[str, Traffic]]:
    namespace = cluster.namespace(f"canary-{request.node.name.split('_')[1]}")
    traffic = Traffic(serve_v1(cluster, namespace, models, manifest("v1")), FEATURES).start()
    try:
        yield namespace, traffic
    finally:
        traffic.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def status(cluster: Cluster, namespace: str) -> dict:
    return cluster.get("modeldeployments", namespace, "fraud").get("status", {})


def test_good_model_is_promoted_then_bad_model_is_rolled_back(cluster: Cluster, deployed: tuple[str, Traffic]) -> None:
    namespace, traffic = deployed
    wait_for(lambda: traffic.codes[200] >= 5, what="inference through the Service")

    roll_out(cluster, namespace, "fraud")
    wait_for(lambda: status(cluster, namespace).get("canaryModel", {}).get("version") == "v2", what="canary v2")
    promoted = wait_for(
        lambda: (s := status(cluster, namespace)).get("stableModel", {}).get("version") == "v2" and s,
        timeout=90,
        what="v2 promoted",
    )
    assert promoted["history"][0]["outcome"] == "Promoted" and promoted["history"][0]["reason"] == "AnalysisPassed"
    assert promoted.get("canaryModel") is None

    roll_out(cluster, namespace, "fraud", "v3")
    rolled = wait_for(
        lambda: (s := status(cluster, namespace)).get("failedModel", {}).get("version") == "v3" and s,
        timeout=120,
        what="v3 rolled back",
    )
    assert rolled["stableModel"]["version"] == "v2"
    record = rolled["history"][0]
    assert (record["outcome"], record["reason"], record["version"]) == ("RolledBack", "AnalysisFailed", "v3")
    assert "request-duration" in record["message"]
    wait_for(lambda: status(cluster, namespace).get("phase") == "RolledBack", what="phase RolledBack")
    # Traffic is back on stable: the canary Deployment is gone and every pod serves v2.
    wait_for(
        lambda: (
            not any(d.metadata.name == "fraud-canary" for d in cluster.apps.list_namespaced_deployment(namespace).items)
        ),
        what="canary removed",
    )
    pods = cluster.core.list_namespaced_pod(namespace, label_selector="mlaiops.dev/model-deployment=fraud").items
    assert {p.metadata.labels["mlaiops.dev/version"] for p in pods if not p.metadata.deletion_timestamp} == {"v2"}
    events = {
        e.reason
        for e in cluster.core.list_namespaced_event(namespace, field_selector="involvedObject.name=fraud").items
    }
    assert {"CanaryStarted", "Promoted", "AnalysisFailed"} <= events
    # The loop's own numbers on the operator's /metrics: v1, v2 and v3 started, v3 rolled back, once each.
    mine = f'namespace="{namespace}"'

    def counted(metric: str, *labels: str) -> float:
        samples = cluster.operator.metric(metric)
        return sum(v for key, v in samples.items() if mine in key and all(label in key for label in labels))

    wait_for(
        lambda: counted("mlaiops_rollouts_finished_total", 'outcome="RolledBack"', 'reason="AnalysisFailed"') == 1,
        what="the rollback counted",
    )
    assert counted("mlaiops_rollouts_started_total") == 3
    assert counted("mlaiops_rollouts_finished_total", 'outcome="Promoted"') == 2
    assert counted("mlaiops_rollouts_finished_total", 'outcome="RolledBack"') == 1


def test_prometheus_outage_degrades_without_promotion_or_rollback(
    cluster: Cluster, deployed: tuple[str, Traffic]
) -> None:
    namespace, _ = deployed
    prometheus = cluster.sandbox.prometheus
    assert prometheus is not None
    roll_out(cluster, namespace, "fraud")
    wait_for(lambda: status(cluster, namespace).get("stepStartedAt"), timeout=60, what="canary step live")
    prometheus.stop()
    try:
        degraded = wait_for(
            lambda: (s := status(cluster, namespace)).get("phase") == "Degraded" and s, timeout=60, what="Degraded"
        )
        condition = next(c for c in degraded["conditions"] if c["type"] == "Degraded")
        assert (condition["status"], condition["reason"]) == ("True", "AnalysisError")
        assert degraded["stableModel"]["version"] == "v1" and degraded["canaryModel"]["version"] == "v2"
        assert degraded.get("failedModel") is None
    finally:
        prometheus.start()
    done = wait_for(
        lambda: (s := status(cluster, namespace)).get("stableModel", {}).get("version") == "v2" and s,
        timeout=120,
        what="promotion after recovery",
    )
    assert done.get("failedModel") is None


class SilentArtifactServer:
    """An HTTP 'artifact store' that accepts connections and never answers: a model server fetching from it
    stays loading, never Ready and never failed (its read timeout is a minute)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)

    def __enter__(self) -> SilentArtifactServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.socket.close()
        for connection in self.held:
            connection.close()


def test_a_canary_never_ready_is_rolled_back_at_its_progress_deadline(
    cluster: Cluster, deployed: tuple[str, Traffic]
) -> None:
    namespace, traffic = deployed
    wait_for(lambda: traffic.codes[200] >= 5, what="inference through the Service")
    with SilentArtifactServer() as store:
        uri = f"http://127.0.0.1:{store.port}/model.joblib"
        patch = {"spec": {"model": {"storageUri": uri, "version": "v9"}, "rollout": {"progressDeadline": "15s"}}}
        cluster.kubectl("patch", "-n", namespace, "md/fraud", "--type=merge", "-p", json.dumps(patch))
        wait_for(lambda: status(cluster, namespace).get("canaryModel", {}).get("version") == "v9", what="canary v9")
        assert status(cluster, namespace).get("trafficRouting") == "ReplicaRatio"
        rolled = wait_for(
            lambda: (s := status(cluster, namespace)).get("failedModel", {}).get("version") == "v9" and s,
            timeout=90,
            what="v9 rolled back at its progress deadline",
        )
        served = traffic.codes[200]
    record = rolled["history"][0]
    assert (record["outcome"], record["reason"], record["version"]) == ("RolledBack", "ProgressDeadlineExceeded", "v9")
    assert "canary v9 not Ready" in record["message"] and "progressDeadline 15s" in record["message"]
    assert rolled["stableModel"]["version"] == "v1" and rolled.get("canaryModel") is None
    progressing = wait_for(
        lambda: next(
            (
                c
                for c in status(cluster, namespace).get("conditions", [])
                if c["type"] == "Progressing" and c["reason"] == "ProgressDeadlineExceeded"
            ),
            None,
        ),
        what="Progressing=False ProgressDeadlineExceeded",
    )
    assert progressing["status"] == "False" and progressing["message"] == record["message"]
    events = wait_for(
        lambda: [
            e
            for e in cluster.core.list_namespaced_event(namespace, field_selector="involvedObject.name=fraud").items
            if e.reason == "ProgressDeadlineExceeded"
        ],
        what="the Warning Event",
    )
    assert events[0].type == "Warning" and "not Ready" in events[0].message
    # Stable was never touched: its pods still serve v1, and the Service kept answering.
    wait_for(
        lambda: (
            not any(d.metadata.name == "fraud-canary" for d in cluster.apps.list_namespaced_deployment(namespace).items)
        ),
        what="canary removed",
    )
    pods = cluster.core.list_namespaced_pod(namespace, label_selector="mlaiops.dev/model-deployment=fraud").items
    assert {p.metadata.labels["mlaiops.dev/version"] for p in pods if not p.metadata.deletion_timestamp} == {"v1"}
    wait_for(lambda: traffic.codes[200] >= served + 5, what="stable still answering")
