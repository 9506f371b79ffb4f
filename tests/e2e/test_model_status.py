"""Status that tells the truth about models: a ModelDeployment whose model file does not exist says so
(Ready=False, Stalled=True, reason ModelLoadFailed, the server's own words from its pod's termination
message) instead of looking like a deploy in progress, and recovers when the spec names a good model,
whose V2 metadata lists its feature names in order."""

from __future__ import annotations

import json
import urllib.request

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.e2e.conftest import Cluster, roll_out, wait_for

pytestmark = pytest.mark.integration
FEATURES = ["tenure", "monthly_charges", "support_calls"]


def manifest(uri: str, version: str) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "churn"},
        "spec": {"model": {"storageUri": uri, "version": version}, "replicas": 1},
    }


def test_a_model_that_cannot_load_is_reported_then_fixed(cluster: Cluster) -> None:
    ns = cluster.namespace("md-model-status")
    claim = cluster.sandbox.dir / "volumes" / ns / "models"
    (claim / "v2").mkdir(parents=True)
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.normal(size=(60, 3)), np.arange(60) % 2)
    model.feature_names_in_ = np.asarray(FEATURES, dtype=object)  # what the trainer records
    joblib.dump(model, claim / "v2" / "model.joblib")
    cluster.apply(manifest("pvc://models/v1/model.joblib", "v1"), ns)

    def failed() -> dict | None:
        md = cluster.get("modeldeployments", ns, "churn")
        ready = cluster.condition(md, "Ready") or {}
        return md if ready.get("reason") == "ModelLoadFailed" else None

    md = wait_for(failed, timeout=45, what="Ready=False ModelLoadFailed")
    ready = cluster.condition(md, "Ready")
    assert ready is not None and ready["status"] == "False"
    assert "stable model v1 cannot load: NotFound:" in ready["message"], ready
    assert "does not exist" in ready["message"] and "exit code 3" in ready["message"], ready
    assert (cluster.condition(md, "Stalled") or {}).get("status") == "True"
    assert md["status"]["phase"] == "Failed" and md["status"]["lastAction"] == "Deploying v1"
    assert not md["status"].get("history")  # never recorded as deployed
    # Posted after the status write that carries the condition: waited for, not read once.
    wait_for(
        lambda: any(
            e.reason == "ModelLoadFailed" and e.type == "Warning"
            for e in cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=churn").items
        ),
        timeout=30,
        what="ModelLoadFailed Warning Event",
    )

    roll_out(cluster, ns, "churn")
    md = wait_for(
        lambda: (o := cluster.get("modeldeployments", ns, "churn"))["status"].get("phase") == "Ready" and o,
        timeout=45,
        what="v2 Ready",
    )
    history = [(r["version"], r["outcome"], r["reason"]) for r in md["status"]["history"]]
    assert history == [("v2", "Promoted", "InitialDeployment"), ("v1", "Failed", "ModelLoadFailed")]
    assert cluster.condition(md, "Stalled") is None
    assert (cluster.condition(md, "Ready") or {}).get("status") == "True"

    service = cluster.core.read_namespaced_service("churn", ns)
    endpoint = service.metadata.annotations["sandbox.mlaiops.dev/endpoint"]
    with urllib.request.urlopen(f"{endpoint}/v2/models/churn", timeout=10) as response:
        metadata = json.load(response)
    assert [tensor["name"] for tensor in metadata["inputs"]] == FEATURES
    assert metadata["parameters"]["feature_names"] == FEATURES
    cluster.kubectl("delete", "namespace", ns, "--wait=false")
