"""MLflow lineage, pure: default names, the Job's MLflow environment, what still needs registering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mlaiops.api.retrainpolicy import (
    MlflowRunLineage,
    MlflowSpec,
    MlflowStatus,
    PromotedModel,
    RetrainPolicySpec,
    RetrainPolicyStatus,
    RunRecord,
)
from mlaiops.resources.trainjob import training_job
from mlaiops.retrain import mlflow_lineage as lineage
from tests.unit.api.helpers import example

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SHA = "a" * 64


def spec(**mlflow: object) -> RetrainPolicySpec:
    body = example("RetrainPolicy")["spec"]
    body["mlflow"] = {"trackingUri": "http://mlflow.mlops:5000", **mlflow}
    return RetrainPolicySpec.model_validate(body)


def run(rid: str, phase: str, **mlflow: str) -> RunRecord:
    return RunRecord(
        id=rid,
        trigger="manual",
        phase=phase,  # type: ignore[arg-type]
        model_uri=f"pvc://models/{rid}/model.joblib",
        model_sha256=SHA,
        mlflow=MlflowRunLineage(**mlflow) if mlflow else None,
    )


def test_names_default_to_the_policy() -> None:
    mlflow = spec().mlflow
    assert mlflow is not None
    assert lineage.experiment_name(mlflow, "fraud", "fraud-retrain") == "mlaiops/fraud/fraud-retrain"
    assert lineage.registered_model_name(mlflow, "fraud-retrain") == "fraud-retrain"
    named = MlflowSpec(tracking_uri="https://mlflow.example", experiment="/Shared/fraud", registered_model="fraud")
    assert lineage.experiment_name(named, "ns", "p") == "/Shared/fraud"
    assert lineage.registered_model_name(named, "p") == "fraud"


@pytest.mark.parametrize(
    "field",
    [
        {"trackingUri": "mlflow:5000"},
        {"trackingUri": "file:///tmp/mlruns"},
        {"registeredModel": "team/fraud"},
        {"registeredModel": "fraud:v1"},
        {"experiment": "bad\nname"},
    ],
)
def test_invalid_mlflow_settings_are_refused(field: dict[str, str]) -> None:
    body = {"trackingUri": "http://mlflow:5000", **field}
    with pytest.raises(ValidationError):
        MlflowSpec.model_validate(body)


def test_job_gets_mlflows_own_variables_and_the_lineage_tags() -> None:
    job = training_job("fraud-retrain", "fraud", spec(experiment="fraud-exp"), "r20261127-120000", "mlaiops:test")
    env = {item["name"]: item["value"] for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlops:5000"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "fraud-exp"
    assert json.loads(env["MLAIOPS_MLFLOW_TAGS"]) == {
        "mlaiops.dev/policy": "fraud/fraud-retrain",
        "mlaiops.dev/run": "r20261127-120000",
    }
    assert int(env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) <= 3  # a down server fails the logging fast


def test_job_without_mlflow_has_no_mlflow_variables() -> None:
    body = example("RetrainPolicy")["spec"]
    job = training_job("p", "ns", RetrainPolicySpec.model_validate(body), "r1", "mlaiops:test")
    names = {item["name"] for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not any(name.startswith("MLFLOW_") or "MLFLOW" in name for name in names)


def test_trainer_result_is_kept_on_the_run() -> None:
    record = run("r1", "Succeeded")
    lineage.record_trainer_result(record, {"metrics": {"accuracy": 0.9}})
    assert record.mlflow is None
    lineage.record_trainer_result(record, {"mlflowRunId": "abc", "mlflowModelUri": "models:/m-1"})
    assert record.mlflow == MlflowRunLineage(run_id="abc", model_uri="models:/m-1")
    lineage.record_trainer_result(record, {"mlflowError": "connection refused"})
    assert record.mlflow == MlflowRunLineage(error="connection refused")


def test_pending_registrations_are_finished_logged_unregistered_oldest_first() -> None:
    status = RetrainPolicyStatus(
        runs=[
            run("r4", "Running", run_id="x4", model_uri="models:/m-4"),
            run("r3", "Rejected", run_id="x3", model_uri="models:/m-3"),
            run("r2", "Promoted", run_id="x2", model_uri="models:/m-2", model_version="2"),
            run("r1", "Failed"),
            run("r0", "Promoted", run_id="x0", model_uri="models:/m-0"),
            run("rx", "Rejected", error="connection refused"),
        ]
    )
    assert [r.id for r in lineage.pending_registrations(status)] == ["r0", "r3"]


def test_champion_is_the_promoted_runs_version_and_challenger_the_newest() -> None:
    status = RetrainPolicyStatus(
        promoted=PromotedModel(uri="pvc://m/r1/model.joblib", sha256=SHA, version="r1", run_id="r1"),
        runs=[
            run("r2", "Rejected", run_id="x2", model_uri="models:/m-2", model_version="2"),
            run("r1", "Promoted", run_id="x1", model_uri="models:/m-1", model_version="1"),
        ],
    )
    assert lineage.champion_version(status) == "1"
    assert lineage.challenger_version(status) == "2"
    status.runs = status.runs[:1]  # the promoted run fell out of the history: status.promoted remembers
    status.promoted.mlflow_model_version = "1"  # type: ignore[union-attr]
    assert lineage.champion_version(status) == "1"
    assert lineage.champion_version(RetrainPolicyStatus()) is None


def test_logging_problem_names_the_newest_finished_run() -> None:
    status = RetrainPolicyStatus(runs=[run("r2", "Running"), run("r1", "Rejected", error="server down")])
    assert lineage.logging_problem(status) == "run r1: server down"
    status.runs = [run("r1", "Promoted", run_id="x1")]
    assert "without a model" in (lineage.logging_problem(status) or "")
    status.runs = [run("r1", "Promoted")]
    assert "no MLflow run" in (lineage.logging_problem(status) or "")
    status.runs = [run("r1", "Promoted", run_id="x1", model_uri="models:/m-1")]
    assert lineage.logging_problem(status) is None


def test_condition_transitions_are_reported_once() -> None:
    status = RetrainPolicyStatus()
    first = lineage.set_condition(status, False, "LoggingFailed", "down", NOW, 1)
    assert first.became_false
    again = lineage.set_condition(status, False, "LoggingFailed", "down", NOW + timedelta(seconds=5), 1)
    assert not again.became_false
    (condition,) = status.conditions or []
    assert condition.last_transition_time == NOW and condition.status == "False"
    healed = lineage.set_condition(status, True, "Synced", "ok", NOW + timedelta(seconds=9), 1)
    assert healed.became_true and not healed.became_false
    (condition,) = status.conditions or []
    assert condition.last_transition_time == NOW + timedelta(seconds=9)


def test_removing_mlflow_from_the_spec_drops_its_status() -> None:
    status = RetrainPolicyStatus(runs=[run("r1", "Promoted", run_id="x1", model_uri="models:/m-1")])
    lineage.set_condition(status, True, "Synced", "ok", NOW, 1)
    status.mlflow = MlflowStatus(registered_model="fraud", champion_version="1")
    lineage.forget(status)
    assert status.mlflow is None and status.conditions is None
    assert status.runs and status.runs[0].mlflow and status.runs[0].mlflow.run_id == "x1"
