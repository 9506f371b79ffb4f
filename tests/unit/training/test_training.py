"""The trainer's pure core: deterministic split, fair champion comparison, fairness gaps, importances."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression

from mlaiops.runtime.train import TERMINATION_LIMIT, write_termination_message
from mlaiops.runtime.training import Table, TrainingError, read_csv, train
from tests.cli_runner import mlaiops


def with_path(env: dict[str, str]) -> dict[str, str]:
    """The trainer's environment, importing the same mlaiops as this test."""
    return {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


def train_cli(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``mlaiops train ARGS`` in process with exactly the Job's ``MLAIOPS_*``/``MLFLOW_*`` environment ``env``
    (as the subprocess run above gets it; this saves an interpreter and sklearn's import per run)."""
    for key in list(os.environ):
        if key.startswith(("MLAIOPS_", "MLFLOW_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return mlaiops("train", *args)


def fraud_csv(rows: int = 400, seed: int = 0) -> str:
    x, y = make_classification(n_samples=rows, n_features=6, n_informative=3, random_state=seed)
    region = np.where(x[:, 0] > 0, "north", "south")
    lines = ["f0,f1,f2,f3,f4,f5,region,is_fraud"]
    lines += [",".join(f"{v:.5f}" for v in row) + f",{r},{label}" for row, r, label in zip(x, region, y, strict=True)]
    return "\n".join(lines) + "\n"


TABLE = read_csv(fraud_csv())


def test_read_csv_types_columns() -> None:
    assert TABLE.rows == 400
    assert TABLE.columns["f0"].dtype == float and TABLE.columns["region"].dtype == object
    with pytest.raises(TrainingError, match="line 3 has 2 fields, the header has 3"):
        read_csv("a,b,c\n1,2,3\n1,2\n")


def test_training_is_deterministic_and_scores_every_metric() -> None:
    first = train(TABLE, target="is_fraud", estimator="RandomForestClassifier", sensitive="region", seed=7)
    second = train(TABLE, target="is_fraud", estimator="RandomForestClassifier", sensitive="region", seed=7)
    assert first.metrics == second.metrics
    assert set(first.metrics) == {"accuracy", "f1", "roc_auc"}
    assert 0.7 < first.metrics["accuracy"] <= 1 and 0.7 < first.metrics["roc_auc"] <= 1
    assert {name for name, _ in first.importances} == {"f0", "f1", "f2", "f3", "f4", "f5"}
    assert "region" not in [name for name, _ in first.importances]  # the sensitive attribute is not a feature


def test_champion_is_scored_on_the_same_rows() -> None:
    result = train(TABLE, target="is_fraud", estimator="LogisticRegression", sensitive="region", seed=3)
    again = train(
        TABLE, target="is_fraud", estimator="RandomForestClassifier", sensitive="region", seed=3, champion=result.model
    )
    # The champion's numbers on the shared split equal its own numbers from its own run.
    assert again.champion_metrics == result.metrics


def test_fairness_gaps_are_measured_per_group() -> None:
    # A model that predicts fraud exactly for one region has a demographic parity gap of 1.
    table = Table(
        {"x": np.tile([0.0, 1.0], 50), "g": np.array(["a", "b"] * 50, dtype=object), "y": np.tile([0.0, 1.0], 50)}
    )
    result = train(table, target="y", estimator="LogisticRegression", sensitive=None, features=["x"], seed=1)
    assert result.fairness == {}
    grouped = train(
        Table({**table.columns}), target="y", estimator="LogisticRegression", sensitive="g", features=["x"], seed=1
    )
    assert grouped.fairness["demographic_parity_difference"] == pytest.approx(1.0)
    assert grouped.fairness["equal_opportunity_difference"] == pytest.approx(0.0)


def test_regression_metrics() -> None:
    x, y = make_regression(n_samples=200, n_features=3, noise=5, random_state=0)
    table = Table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    result = train(table, target="y", estimator="Ridge")
    assert set(result.metrics) == {"rmse", "mae", "r2"} and result.metrics["r2"] > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"estimator": "SVC"}, "not allowed"),
        ({"estimator": "RandomForestClassifier", "params": {"trees": 3}}, "has no parameter"),
        ({"estimator": "RandomForestClassifier", "target": "label"}, "target column 'label' is not in the dataset"),
        ({"estimator": "RandomForestClassifier", "features": ["f0", "region"]}, "region are not numeric"),
        ({"estimator": "Ridge", "sensitive": "zone"}, "sensitive attribute 'zone'"),
    ],
)
def test_bad_configuration_says_what_to_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        train(TABLE, **{"target": "is_fraud", **kwargs})


def test_champion_with_other_features_is_refused() -> None:
    champion = LogisticRegression().fit(np.random.default_rng(0).normal(size=(20, 2)), [0, 1] * 10)
    with pytest.raises(TrainingError, match="champion expects 2 features"):
        train(TABLE, target="is_fraud", estimator="LogisticRegression", sensitive="region", champion=champion)


def test_termination_message_fits_what_kubernetes_keeps(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    write_termination_message(path, {"runId": "r1", "topFeatures": ["feature-" + "x" * 100] * 100})
    text = path.read_text()
    assert len(text.encode()) <= TERMINATION_LIMIT + 1 and json.loads(text) == {"runId": "r1"}


def test_cli_writes_the_model_metrics_and_summary(tmp_path: Path) -> None:
    data = tmp_path / "claims" / "data" / "fraud.csv"
    data.parent.mkdir(parents=True)
    data.write_text(fraud_csv(seed=1))
    champion = tmp_path / "champion.joblib"
    x = read_csv(fraud_csv(seed=2))
    joblib.dump(
        LogisticRegression().fit(np.column_stack([x.columns[f"f{i}"] for i in range(6)]), x.columns["is_fraud"]),
        champion,
    )
    log = tmp_path / "termination-log"
    env = {
        "MLAIOPS_DATASET_URI": "pvc://data/fraud.csv",
        "MLAIOPS_DATASET_TARGET": "is_fraud",
        "MLAIOPS_SENSITIVE_ATTRIBUTE": "region",
        "MLAIOPS_ESTIMATOR": "HistGradientBoostingClassifier",
        "MLAIOPS_PARAMS": '{"max_iter": 50}',
        "MLAIOPS_OUTPUT_URI": "pvc://models/run-1",
        "MLAIOPS_CHAMPION_URI": f"file://{champion}",
        "MLAIOPS_PVC_ROOT": str(tmp_path / "claims"),
        "MLAIOPS_FILE_ROOT": str(tmp_path),
        "MLAIOPS_RUN_ID": "run-1",
        "MLAIOPS_TERMINATION_LOG": str(log),
    }
    result = subprocess.run(
        [sys.executable, "-m", "mlaiops", "train"], env=with_path(env), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(log.read_text())
    output = tmp_path / "claims" / "models" / "run-1"
    assert summary["modelUri"] == "pvc://models/run-1/model.joblib"
    assert summary["sha256"] == (output / "model.sha256").read_text().strip()
    assert set(summary["metrics"]) == {"accuracy", "f1", "roc_auc"} and set(summary["championMetrics"]) == set(
        summary["metrics"]
    )
    assert json.loads((output / "metrics.json").read_text())["importances"]
    assert hasattr(joblib.load(output / "model.joblib"), "predict")


def test_cli_failure_is_reported_in_the_termination_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "termination-log"
    env = {
        "MLAIOPS_DATASET_URI": f"file://{tmp_path}/missing.csv",
        "MLAIOPS_DATASET_TARGET": "y",
        "MLAIOPS_OUTPUT_URI": f"file://{tmp_path}/out",
        "MLAIOPS_FILE_ROOT": str(tmp_path),
        "MLAIOPS_TERMINATION_LOG": str(log),
    }
    result = train_cli(monkeypatch, env)
    assert result.returncode == 1 and "training failed" in result.stderr
    assert "missing.csv" in json.loads(log.read_text())["error"]


def test_cli_reads_file_uris_under_the_file_root_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "fraud.csv"
    data.write_text(fraud_csv(seed=1))
    log = tmp_path / "termination-log"
    env = {
        "MLAIOPS_DATASET_URI": data.as_uri(),
        "MLAIOPS_DATASET_TARGET": "is_fraud",
        "MLAIOPS_OUTPUT_URI": f"file://{tmp_path}/out",
        "MLAIOPS_FILE_ROOT": str(tmp_path / "elsewhere"),
        "MLAIOPS_TERMINATION_LOG": str(log),
    }
    result = train_cli(monkeypatch, env)
    assert result.returncode == 1
    assert "must point under" in json.loads(log.read_text())["error"]


def test_cli_loads_a_skops_champion_without_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skops.io

    data = tmp_path / "fraud.csv"
    data.write_text(fraud_csv(seed=1))
    x = read_csv(fraud_csv(seed=2))
    champion = tmp_path / "champion"
    champion.mkdir()
    skops.io.dump(
        LogisticRegression().fit(np.column_stack([x.columns[f"f{i}"] for i in range(6)]), x.columns["is_fraud"]),
        champion / "model.skops",
    )
    log = tmp_path / "termination-log"
    env = {
        "MLAIOPS_DATASET_URI": data.as_uri(),
        "MLAIOPS_DATASET_TARGET": "is_fraud",
        "MLAIOPS_DATASET_FEATURES": "f0,f1,f2,f3,f4,f5",
        "MLAIOPS_ESTIMATOR": "LogisticRegression",
        "MLAIOPS_OUTPUT_URI": f"file://{tmp_path}/out",
        "MLAIOPS_CHAMPION_URI": champion.as_uri(),
        "MLAIOPS_FILE_ROOT": str(tmp_path),
        "MLAIOPS_TERMINATION_LOG": str(log),
    }
    result = train_cli(monkeypatch, env)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(log.read_text())["championMetrics"]) == {"accuracy", "f1", "roc_auc"}


def test_the_model_knows_its_feature_names_in_order() -> None:
    """The model server lists them in its V2 metadata; a champion is only compared on the same columns."""
    result = train(TABLE, target="is_fraud", estimator="LogisticRegression", features=["f2", "f0", "f1"], seed=3)
    assert list(result.model.feature_names_in_) == ["f2", "f0", "f1"]
    again = train(
        TABLE,
        target="is_fraud",
        estimator="LogisticRegression",
        features=["f2", "f0", "f1"],
        seed=3,
        champion=result.model,
    )
    assert again.champion_metrics == result.metrics
    with pytest.raises(
        TrainingError, match=r"trained on the features f2, f0, f1 \(in this order\); the dataset gives f0, f1, f2"
    ):
        train(
            TABLE, target="is_fraud", estimator="LogisticRegression", features=["f0", "f1", "f2"], champion=result.model
        )


def test_training_writes_a_reference_profile_of_the_training_split() -> None:
    from mlaiops.detection.profile import PREDICTION

    result = train(TABLE, target="is_fraud", estimator="LogisticRegression", features=["f0", "f1", "f2"], seed=1)
    assert result.profile is not None
    assert result.profile.names == ["f0", "f1", "f2"]
    assert all(f.bins == 10 and sum(f.counts) == 300 for f in result.profile.features)  # 75% of 400 rows
    prediction = result.profile.get(PREDICTION)
    assert result.profile.prediction_output == "probability" and sum(prediction.counts) == 100  # the held-out rows
    assert 0 <= prediction.edges[0] and prediction.edges[-1] <= 1
    multi = Table({"x": np.arange(60, dtype=float), "y": np.asarray([0, 1, 2] * 20, dtype=float)})
    classes = train(multi, target="y", estimator="RandomForestClassifier", params={"n_estimators": 5}).profile
    assert classes is not None and classes.prediction_output == "class"


def test_cli_writes_the_profile_beside_the_model_with_its_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from mlaiops.detection.profile import Profile

    data = tmp_path / "fraud.csv"
    data.write_text(fraud_csv(seed=3))
    log = tmp_path / "termination-log"
    env = {
        "MLAIOPS_DATASET_URI": f"file://{data}",
        "MLAIOPS_DATASET_TARGET": "is_fraud",
        "MLAIOPS_ESTIMATOR": "LogisticRegression",
        "MLAIOPS_OUTPUT_URI": f"file://{tmp_path}/out",
        "MLAIOPS_FILE_ROOT": str(tmp_path),
        "MLAIOPS_TERMINATION_LOG": str(log),
    }
    result = train_cli(monkeypatch, env, "--features", "f0,f1,f2,f3,f4,f5", "--profile-bins", "15")
    assert result.returncode == 0, result.stderr
    summary = json.loads(log.read_text())
    text = (tmp_path / "out" / "profile.json").read_text()
    assert summary["profileUri"] == f"file://{tmp_path}/out/profile.json"
    assert summary["profileSha256"] == hashlib.sha256(text.encode()).hexdigest()
    loaded = Profile.from_json(text)
    assert loaded.names == [f"f{i}" for i in range(6)] and loaded.features[0].bins == 15
    refused = train_cli(monkeypatch, env, "--profile-bins", "200")
    assert refused.returncode == 2 and "--profile-bins must be between 2 and 50" in refused.stderr
