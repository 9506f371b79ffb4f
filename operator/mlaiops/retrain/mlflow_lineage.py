"""MLflow lineage of a RetrainPolicy, pure: names, the trainer's environment, what the registry still needs.

The trainer logs the run (it has the model); the operator only registers versions and moves
aliases (it never reads a model). Everything the operator did is kept in status, so each pass
knows what is left to do without asking MLflow, and a pass that failed is simply repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mlaiops.api.common import kept_condition
from mlaiops.api.retrainpolicy import MlflowRunLineage, MlflowSpec, RetrainPolicyStatus, RunRecord
from mlaiops.resources import trainjob

CONDITION = "MLflowSynced"
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
# The operator calls MLflow inside a reconcile pass and tries again on the next one: no retries, a short timeout.
OPERATOR_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
# The Job's MLflow environment is part of the Job (resources/trainjob.py, a lower layer); re-exported here.
TAGS_ENV = trainjob.MLFLOW_TAGS_ENV
RUN_TAG = trainjob.MLFLOW_RUN_TAG
POLICY_TAG = trainjob.MLFLOW_POLICY_TAG
CLIENT_ENV = trainjob.MLFLOW_CLIENT_ENV
experiment_name = trainjob.experiment_name
run_tags = trainjob.mlflow_run_tags
job_env = trainjob.mlflow_env
_FINISHED = frozenset({"Succeeded", "Rejected", "Promoted", "AwaitingApproval", "Expired"})


def registered_model_name(spec: MlflowSpec, policy: str) -> str:
    return spec.registered_model or policy


def record_trainer_result(run: RunRecord, summary: dict[str, Any]) -> None:
    """Keep what the trainer reported about MLflow (``mlflowRunId``, ``mlflowModelUri``, ``mlflowError``)."""
    fields = {
        "run_id": summary.get("mlflowRunId"),
        "model_uri": summary.get("mlflowModelUri"),
        "error": summary.get("mlflowError"),
    }
    if any(fields.values()):
        run.mlflow = MlflowRunLineage(**{key: str(value) for key, value in fields.items() if value})


def pending_registrations(status: RetrainPolicyStatus) -> list[RunRecord]:
    """Finished runs with a logged model and no registered version yet, oldest first."""
    return [
        run
        for run in reversed(status.runs or [])
        if run.phase in _FINISHED and run.mlflow and run.mlflow.model_uri and not run.mlflow.model_version
    ]


def champion_version(status: RetrainPolicyStatus) -> str | None:
    """The registry version of the promoted model, once it is registered."""
    if status.promoted is None:
        return None
    run = next((r for r in status.runs or [] if r.id == status.promoted.run_id), None)
    version = run.mlflow.model_version if run and run.mlflow else None
    return version or status.promoted.mlflow_model_version


def challenger_version(status: RetrainPolicyStatus) -> str | None:
    """The registry version of the newest candidate."""
    return next((r.mlflow.model_version for r in status.runs or [] if r.mlflow and r.mlflow.model_version), None)


def logging_problem(status: RetrainPolicyStatus) -> str | None:
    """Why the newest finished run is not in MLflow, if it is not."""
    run = next((r for r in status.runs or [] if r.phase in _FINISHED), None)
    if run is None:
        return None
    if run.mlflow is None:
        return f"run {run.id}: the trainer reported no MLflow run (does it log to MLflow?)"
    if run.mlflow.error:
        return f"run {run.id}: {run.mlflow.error}"
    if not run.mlflow.model_uri:
        return f"run {run.id}: the trainer logged MLflow run {run.mlflow.run_id} without a model"
    return None


@dataclass(frozen=True)
class ConditionChange:
    """Whether setting the condition turned it False (worth a Warning Event) or back to True."""

    became_false: bool
    became_true: bool


def set_condition(
    status: RetrainPolicyStatus, ok: bool, reason: str, message: str, now: datetime, generation: int
) -> ConditionChange:
    """Set MLflowSynced, keeping lastTransitionTime while the status stays the same."""
    text: Literal["True", "False"] = "True" if ok else "False"
    previous = next((c for c in status.conditions or [] if c.type == CONDITION), None)
    condition = kept_condition(CONDITION, ok, reason, message, status.conditions or [], now, generation)
    status.conditions = [*(c for c in status.conditions or [] if c.type != CONDITION), condition]
    changed = previous is None or previous.status != text or previous.message != message
    return ConditionChange(
        became_false=not ok and changed, became_true=ok and previous is not None and previous.status != text
    )


def forget(status: RetrainPolicyStatus) -> None:
    """spec.mlflow was removed: drop what described the registry (runs keep their lineage)."""
    status.mlflow = None
    if any(c.type == CONDITION for c in status.conditions or []):
        status.conditions = [c for c in status.conditions or [] if c.type != CONDITION] or None
