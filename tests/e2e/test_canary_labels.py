"""A canary that predicts worse is rolled back on delayed labels: its errors and latency look like stable's.

Both models are logistic regressions of the demo's transactions, as fast as each other and never failing a
request; v2 learnt the labels the wrong way round. Only the fraud labels, sent a second after each answer to
``/v2/models/fraud/feedback`` through the Service (docs/feedback.md), tell them apart: the operator's
``accuracy-vs-stable`` compares the tracks' joined labels on real scraped counters and rolls v2 back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from mlaiops_demo.data import FEATURES, transactions
from mlaiops_demo.traffic import Traffic
from sklearn.linear_model import LogisticRegression

from tests.e2e.conftest import Cluster, roll_out, wait_for
from tests.e2e.test_canary import serve_v1

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """v1 learnt fraud from the demo's transactions; v2 learnt it upside down (a label join gone wrong)."""
    x, y = transactions(np.random.default_rng(7), 3000)
    folder = tmp_path_factory.mktemp("label-models")
    paths = {}
    for version, labels in (("v1", y), ("v2", 1 - y)):
        paths[version] = folder / version / "model.joblib"
        paths[version].parent.mkdir()
        joblib.dump(LogisticRegression().fit(x, labels), paths[version])
    return paths


def manifest() -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud"},
        "spec": {
            "model": {"storageUri": "pvc://models/v1/model.joblib", "version": "v1"},
            "replicas": 2,
            # A pause long enough that only the labels can end the step early.
            "rollout": {"strategy": "Canary", "canary": {"steps": [{"weight": 50, "pause": "5m"}]}},
            "analysis": {
                "interval": "3s",
                "failureLimit": 0,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 0.95}},
                    {"name": "accuracy-vs-stable", "minSampleSize": 40},
                ],
            },
        },
    }


@pytest.fixture
def labelled(cluster: Cluster, models: dict[str, Path]) -> Iterator[tuple[str, Traffic]]:
    namespace = cluster.namespace("canary-labels")
    url = serve_v1(cluster, namespace, models, manifest())
    traffic = Traffic(url, len(FEATURES), rate=20, label_share=1.0, label_delay=1.0)
    try:
        yield namespace, traffic.start()
    finally:
        traffic.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_a_canary_that_predicts_worse_is_rolled_back_on_delayed_labels(
    cluster: Cluster, labelled: tuple[str, Traffic]
) -> None:
    namespace, traffic = labelled
    wait_for(lambda: traffic.labels["joined"] >= 20, what="labels joined to v1's predictions")

    roll_out(cluster, namespace, "fraud")
    rolled = wait_for(
        lambda: (
            (s := cluster.get("modeldeployments", namespace, "fraud")["status"]).get("failedModel", {}).get("version")
            == "v2"
            and s
        ),
        timeout=150,
        what="v2 rolled back on its labels",
    )
    record = rolled["history"][0]
    assert (record["outcome"], record["reason"], record["version"]) == ("RolledBack", "AnalysisFailed", "v2"), record
    assert "accuracy-vs-stable" in record["message"] and "is lower" in record["message"], record
    assert rolled["stableModel"]["version"] == "v1"
    assert "request-success-rate" not in record["message"]  # the requests were as good as stable's: labels only
