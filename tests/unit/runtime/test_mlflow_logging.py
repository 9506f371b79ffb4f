"""What the trainer logs to MLflow: params that decide the model, metrics with the champion's prefixed, lineage tags;
and that a trainer without a reachable MLflow still finishes with the failure in its summary."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from mlaiops.runtime import mlflow_logging

ARGS = argparse.Namespace(
    estimator="LogisticRegression",
    test_size=0.25,
    seed=3,
    target="is_fraud",
    dataset_format="auto",
    sensitive_attribute="region",
)
SUMMARY = {
    "runId": "r1",
    "rows": 600,
    "metrics": {"accuracy": 0.9, "roc_auc": 0.95},
    "fairness": {"demographic_parity_difference": 0.1},
    "championMetrics": {"accuracy": 0.85},
    "championFairness": {"demographic_parity_difference": 0.2},
    "datasetUri": "pvc://data/t.csv",
    "datasetSha256": "d" * 64,
    "modelUri": "pvc://models/r1/model.joblib",
    "sha256": "e" * 64,
}


def test_params_include_the_split_and_the_estimators_own() -> None:
    params = mlflow_logging.params_of(ARGS, {"C": 0.5, "class_weight": {"0": 1, "1": 3}}, ["a", "b"])
    assert params["estimator"] == "LogisticRegression" and params["seed"] == 3 and params["test_size"] == 0.25
    assert params["features"] == "a,b" and params["sensitive_attribute"] == "region"
    assert params["C"] == 0.5 and json.loads(params["class_weight"]) == {"0": 1, "1": 3}


def test_champion_metrics_share_the_split_and_get_a_prefix() -> None:
    assert mlflow_logging.metrics_of(SUMMARY) == {
        "rows": 600.0,
        "accuracy": 0.9,
        "roc_auc": 0.95,
        "demographic_parity_difference": 0.1,
        "champion_accuracy": 0.85,
        "champion_demographic_parity_difference": 0.2,
    }


def test_tags_join_the_operators_with_the_data_and_artifact() -> None:
    tags = mlflow_logging.tags_of(SUMMARY, '{"mlaiops.dev/run":"r1","mlaiops.dev/policy":"ns/p"}')
    assert tags["mlaiops.dev/run"] == "r1" and tags["mlaiops.dev/policy"] == "ns/p"
    assert tags["mlaiops.dev/dataset-sha256"] == "d" * 64 and tags["mlaiops.dev/sha256"] == "e" * 64
    assert mlflow_logging.tags_of({}, "not json") == {}
    assert "mlaiops.dev/profile-sha256" not in tags  # a summary without a profile
    with_profile = mlflow_logging.tags_of({**SUMMARY, "profileSha256": "f" * 64}, None)
    assert with_profile["mlaiops.dev/profile-sha256"] == "f" * 64


def test_unreachable_server_is_an_error_in_the_summary_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as sock:  # a port that refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = mlflow_logging.log_run(f"http://127.0.0.1:{port}", "e", object(), {}, SUMMARY, {}, tmp_path)
    assert set(result) == {"mlflowError"}
    assert result["mlflowError"].startswith(f"logging to MLflow at http://127.0.0.1:{port} failed")
