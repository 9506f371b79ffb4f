"""Registry sync decisions: what is registered in which order, where the aliases go, and how failures show.

The registry here is an in-memory stand-in for MLflow's; the real server is exercised in
tests/e2e/test_retrain_mlflow.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.retrainpolicy import MlflowRunLineage, MlflowSpec, PromotedModel, RetrainPolicyStatus, RunRecord
from mlaiops.retrain import mlflow_registry
from mlaiops.retrain.mlflow_registry import MlflowRegistryError

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SPEC = MlflowSpec(tracking_uri="http://mlflow:5000", registered_model="fraud")
SHA = "b" * 64


class MemoryRegistry:
    """Versions and aliases of one registered model; ``down`` makes every call fail like a refused connection."""

    def __init__(self) -> None:
        self.versions: dict[str, dict[str, str]] = {}
        self.aliases: dict[str, str] = {}
        self.calls = 0
        self.down = False

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise MlflowRegistryError("ConnectionError: connection refused")

    def ensure_model(self, name: str) -> None:
        self._call()

    def register(self, name: str, run: RunRecord, tags: dict[str, str]) -> str:
        self._call()
        version = str(len(self.versions) + 1)
        self.versions[version] = tags
        return version

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call()
        self.aliases[alias] = version


def logged(rid: str, phase: str) -> RunRecord:
    return RunRecord(
        id=rid,
        trigger="manual",
        phase=phase,  # type: ignore[arg-type]
        model_uri=f"pvc://models/{rid}/model.joblib",
        model_sha256=SHA,
        mlflow=MlflowRunLineage(run_id=f"mlflow-{rid}", model_uri=f"models:/m-{rid}"),
    )


def promote(status: RetrainPolicyStatus, rid: str) -> None:
    status.promoted = PromotedModel(uri=f"pvc://models/{rid}/model.joblib", sha256=SHA, version=rid, run_id=rid)


def test_promoted_candidate_becomes_champion_and_rejected_one_only_challenger() -> None:
    registry = MemoryRegistry()
    status = RetrainPolicyStatus(runs=[logged("r1", "Promoted")])
    promote(status, "r1")
    events = mlflow_registry.sync(SPEC, status, "fraud", "fraud-retrain", NOW, 1, registry)
    assert registry.aliases == {"champion": "1", "challenger": "1"}
    assert registry.versions["1"] == {
        "mlaiops.dev/policy": "fraud/fraud-retrain",
        "mlaiops.dev/run": "r1",
        "mlaiops.dev/model-uri": "pvc://models/r1/model.joblib",
        "mlaiops.dev/sha256": SHA,
    }
    assert status.mlflow is not None and status.mlflow.champion_version == "1"
    assert status.promoted is not None and status.promoted.mlflow_model_version == "1"
    assert status.runs is not None and status.runs[0].mlflow and status.runs[0].mlflow.model_version == "1"
    assert {reason for _, reason, _ in events} == {"MLflowRegistered", "MLflowChampion"}

    status.runs = [logged("r2", "Rejected"), *status.runs]
    mlflow_registry.sync(SPEC, status, "fraud", "fraud-retrain", NOW, 1, registry)
    assert registry.aliases == {"champion": "1", "challenger": "2"}
    (condition,) = status.conditions or []
    assert (
        condition.type == "MLflowSynced" and condition.status == "True" and "champion is version 1" in condition.message
    )


def test_nothing_to_do_makes_no_call() -> None:
    registry = MemoryRegistry()
    status = RetrainPolicyStatus(runs=[logged("r1", "Promoted")])
    promote(status, "r1")
    mlflow_registry.sync(SPEC, status, "fraud", "p", NOW, 1, registry)
    calls = registry.calls
    assert mlflow_registry.sync(SPEC, status, "fraud", "p", NOW + timedelta(seconds=5), 1, registry) == []
    assert registry.calls == calls


def test_registry_down_is_reported_once_and_retried_until_it_is_back() -> None:
    registry = MemoryRegistry()
    registry.down = True
    status = RetrainPolicyStatus(runs=[logged("r1", "Promoted")])
    promote(status, "r1")
    events = mlflow_registry.sync(SPEC, status, "fraud", "p", NOW, 1, registry)
    assert [reason for _, reason, _ in events] == ["MLflowFailed"]
    assert "MLflow registry at http://mlflow:5000" in events[0][2] and "connection refused" in events[0][2]
    (condition,) = status.conditions or []
    assert condition.status == "False" and condition.reason == "RegistryFailed"
    assert status.promoted is not None and status.promoted.mlflow_model_version is None
    assert mlflow_registry.sync(SPEC, status, "fraud", "p", NOW + timedelta(seconds=5), 1, registry) == []

    registry.down = False
    events = mlflow_registry.sync(SPEC, status, "fraud", "p", NOW + timedelta(seconds=10), 1, registry)
    assert registry.aliases["champion"] == "1"
    assert "MLflowSynced" in {reason for _, reason, _ in events}
    (condition,) = status.conditions or []
    assert condition.status == "True"


def test_a_run_the_trainer_could_not_log_leaves_the_champion_where_it_was() -> None:
    registry = MemoryRegistry()
    status = RetrainPolicyStatus(runs=[logged("r1", "Promoted")])
    promote(status, "r1")
    mlflow_registry.sync(SPEC, status, "fraud", "p", NOW, 1, registry)
    unlogged = RunRecord(
        id="r2",
        trigger="manual",
        phase="Promoted",
        model_uri="pvc://models/r2/model.joblib",
        model_sha256=SHA,
        mlflow=MlflowRunLineage(error="logging to MLflow failed: connection refused"),
    )
    status.runs = [unlogged, *(status.runs or [])]
    promote(status, "r2")
    events = mlflow_registry.sync(SPEC, status, "fraud", "p", NOW, 1, registry)
    assert registry.aliases["champion"] == "1"
    assert [reason for _, reason, _ in events] == ["MLflowFailed"]
    (condition,) = status.conditions or []
    assert condition.reason == "LoggingFailed" and "run r2" in condition.message
