"""RetrainPolicy on real parts: the Job runs `mlaiops train` as a process, the controller reads its
termination message, gates the candidate against the champion, promotes it, and the ModelDeployment that
follows the policy rolls the promoted model out."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


def dataset(rows: int, seed: int, noise: float) -> str:
    x, y = make_classification(n_samples=rows, n_features=6, n_informative=4, flip_y=noise, random_state=seed)
    region = np.where(x[:, 5] > 0, "north", "south")
    lines = ["amount,hour,merchant,age,distance,velocity,region,is_fraud"]
    lines += [",".join(f"{v:.4f}" for v in row) + f",{r},{label}" for row, r, label in zip(x, region, y, strict=True)]
    return "\n".join(lines) + "\n"


def policy(minimum: float) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RetrainPolicy",
        "metadata": {"name": "fraud-retrain"},
        "spec": {
            "modelDeploymentRef": {"name": "fraud"},
            "triggers": {"minInterval": "1s"},
            "dataset": {"uri": "pvc://fraud-data/transactions.csv", "target": "is_fraud"},
            "trainer": {"estimator": "LogisticRegression", "seed": 3},
            "output": {"uri": "pvc://fraud-models/fraud"},
            "validation": {
                "metric": "accuracy",
                "minimum": minimum,
                "fairness": {"sensitiveAttribute": "region", "maxDemographicParityDifference": 0.9},
            },
        },
    }


MODEL_DEPLOYMENT = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "fraud"},
    "spec": {
        "model": {"source": {"retrainPolicyRef": {"name": "fraud-retrain"}}},
        "replicas": 1,
        "rollout": {"strategy": "RollingUpdate"},
    },
}


def runs(cluster: Cluster, namespace: str) -> list[dict]:
    return cluster.get("retrainpolicies", namespace, "fraud-retrain").get("status", {}).get("runs", [])


def request(cluster: Cluster, namespace: str, reason: str) -> None:
    cluster.kubectl("annotate", "-n", namespace, "rtp/fraud-retrain", f"mlaiops.dev/retrain={reason}", "--overwrite")


def test_requested_run_trains_promotes_and_deploys(cluster: Cluster) -> None:
    ns = cluster.namespace("retrain-loop")
    data = cluster.sandbox.dir / "volumes" / ns / "fraud-data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "transactions.csv").write_text(dataset(1500, seed=1, noise=0.02))
    cluster.apply(policy(minimum=0.7), ns)
    cluster.apply(MODEL_DEPLOYMENT, ns)
    waiting = wait_for(
        lambda: cluster.condition(cluster.get("modeldeployments", ns, "fraud"), "Ready"), what="md condition"
    )
    assert waiting["reason"] == "WaitingForModel"

    request(cluster, ns, "first-model")
    first = wait_for(
        lambda: (r := runs(cluster, ns)) and r[0]["phase"] == "Promoted" and r[0], timeout=90, what="run promoted"
    )
    assert first["trigger"] == "manual" and first["reason"] == "first-model"
    assert first["candidateMetrics"]["accuracy"] > 0.7 and first.get("championMetrics") is None
    assert first["modelSha256"] and first["datasetSha256"] and first["topFeatures"]
    promoted = cluster.get("retrainpolicies", ns, "fraud-retrain")["status"]["promoted"]
    assert promoted["version"] == first["id"] and promoted["uri"].endswith(f"/{first['id']}/model.joblib")
    assert (cluster.sandbox.dir / "volumes" / ns / "fraud-models" / "fraud" / first["id"] / "model.joblib").exists()
    md = wait_for(
        lambda: (o := cluster.get("modeldeployments", ns, "fraud"))["status"].get("phase") == "Ready" and o,
        timeout=60,
        what="md Ready",
    )
    assert md["status"]["stableModel"]["version"] == first["id"]
    wait_for(
        lambda: (r := runs(cluster, ns)) and r[0].get("rolloutOutcome") == "Promoted", what="rollout outcome recorded"
    )

    # The same data again cannot beat the champion by more than nothing: the gate needs an improvement.
    request(cluster, ns, "no-better")
    second = wait_for(
        lambda: (
            (r := runs(cluster, ns))
            and r[0]["id"] != first["id"]
            and r[0]["phase"] in ("Rejected", "Promoted")
            and r[0]
        ),
        timeout=90,
        what="second run decided",
    )
    assert second["championMetrics"]["accuracy"] == pytest.approx(first["candidateMetrics"]["accuracy"])
    assert second["phase"] == "Promoted" or "improvement" in second["decision"]
    events = {
        e.reason
        for e in cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=fraud-retrain").items
    }
    assert {"RunStarted", "Promoted"} <= events


def test_failing_job_is_reported_with_the_pods_message(cluster: Cluster) -> None:
    ns = cluster.namespace("retrain-fail")
    broken = policy(minimum=0.5)
    broken["spec"]["dataset"]["uri"] = "pvc://fraud-data/missing.csv"
    broken["spec"]["job"] = {"backoffLimit": 0}
    cluster.apply(broken, ns)
    request(cluster, ns, "try")
    failed = wait_for(
        lambda: (r := runs(cluster, ns)) and r[0]["phase"] == "Failed" and r[0], timeout=60, what="run failed"
    )
    assert "missing.csv" in failed["decision"]
    status = cluster.get("retrainpolicies", ns, "fraud-retrain")["status"]
    assert status.get("promoted") is None and status["phase"] == "Idle"
