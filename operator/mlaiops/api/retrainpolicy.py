"""RetrainPolicy: retraining Jobs on schedule, on anomalies and on demand, gated by champion/challenger validation.

Vocabulary from Kubeflow recurring runs and CronJobs (``schedule``, ``timeZone``,
``concurrencyPolicy``), MLflow (champion/challenger, metric thresholds against a baseline)
and Jobs (``backoffLimit``, ``activeDeadlineSeconds``, ``ttlSecondsAfterFinished``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlaiops.api.common import (
    ApiModel,
    Conditions,
    Duration,
    FreeForm,
    LabelSelector,
    LocalObjectReference,
    nested,
    rule,
    validations,
)
from mlaiops.api.modeldeployment import SHA256_PATTERN, STORAGE_URI_PATTERN

# The built-in trainer writes its model to a local path (a file, or a mounted claim); it cannot upload.
OUTPUT_URI_PATTERN = r"^(file|pvc)://.+$"
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4,5}\S+)$"

ESTIMATORS = (
    "LogisticRegression",
    "RandomForestClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
    "LinearRegression",
    "Ridge",
    "RandomForestRegressor",
    "GradientBoostingRegressor",
    "HistGradientBoostingRegressor",
)
Estimator = Literal[ESTIMATORS]  # type: ignore[valid-type]

PARAM_LIMITS: dict[str, tuple[int, int]] = {
    "n_estimators": (1, 1000),
    "max_iter": (1, 10_000),
    "max_depth": (1, 100),
    "max_leaf_nodes": (2, 65_536),
    "max_bins": (2, 255),
    "n_iter_no_change": (1, 1000),
    "n_jobs": (1, 16),
}
"""Bounds of the estimator parameters that size a run (trees, iterations, depth, threads): a typo like
n_estimators=10**9 must not occupy a node until activeDeadlineSeconds. ``null`` keeps its scikit-learn
meaning (e.g. unlimited depth, bounded by the data). The trainer checks the same table."""
MAX_ACTIVE_DEADLINE_SECONDS = 86_400


def param_problems(params: dict[str, Any] | None) -> list[str]:
    """One message per parameter value outside :data:`PARAM_LIMITS`, naming the parameter."""
    problems = []
    for name, value in (params or {}).items():
        if name not in PARAM_LIMITS or value is None:
            continue
        low, high = PARAM_LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return problems


MetricName = Literal["accuracy", "f1", "roc_auc", "rmse", "mae", "r2"]
LOWER_IS_BETTER = frozenset({"rmse", "mae"})


class ScheduleTrigger(ApiModel):
    """Retrain on a cron schedule."""

    cron: str = Field(pattern=CRON_PATTERN, max_length=256)
    """Five-field cron expression or a macro like @daily; an optional sixth field counts seconds."""
    time_zone: str = Field(default="UTC", max_length=64)
    """IANA time zone of the schedule."""
    concurrency_policy: Literal["Forbid", "Replace"] = "Forbid"
    """What to do when a run is still going: skip the new one, or replace the old one."""
    catch_up: bool = False
    """Start one run for schedules missed while the operator was down."""


class AnomalyTrigger(ApiModel):
    """Retrain when AnomalyRules fire (drift is an AnomalyRule on the prediction distribution)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule("(has(self.rules) && size(self.rules) > 0) || has(self.selector)", "set rules, selector or both")
        )
    )

    rules: list[LocalObjectReference] | None = None
    """AnomalyRules by name."""
    selector: LabelSelector | None = None
    """AnomalyRules by label."""
    consecutive_firings: int = Field(default=1, ge=1, le=100)
    """Firings needed before a run starts."""

    @model_validator(mode="after")
    def _some_rule(self) -> AnomalyTrigger:
        if not self.rules and self.selector is None:
            raise ValueError("set rules, selector or both")
        return self


class Triggers(ApiModel):
    """When to retrain; the mlaiops.dev/retrain annotation and playbooks can always trigger a run."""

    schedule: ScheduleTrigger | None = None
    """Periodic runs."""
    on_anomaly: AnomalyTrigger | None = None
    """Runs caused by anomalies."""
    min_interval: Duration = "10m"
    """Least time between two runs, whatever triggers them."""


class Dataset(ApiModel):
    """Training data: one table with a target column."""

    uri: str = Field(pattern=STORAGE_URI_PATTERN, max_length=2048)
    """file://, http(s)://, pvc:// or s3:// location of a CSV or Parquet file."""
    target: str = Field(min_length=1, max_length=256)
    """Column to predict."""
    features: list[str] | None = None
    """Columns to use; all but target (and the sensitive attribute) when empty."""
    format: Literal["auto", "csv", "parquet"] = "auto"
    """File format; auto goes by the extension."""


class TrainerSpec(ApiModel):
    """The built-in trainer (``mlaiops train``) or a custom pod template."""

    estimator: Estimator = "RandomForestClassifier"
    """scikit-learn estimator from the allowlist."""
    params: FreeForm | None = None
    """Estimator keyword arguments. Sizes are bounded: n_estimators 1-1000, max_iter 1-10000, max_depth 1-100,
    max_leaf_nodes 2-65536, max_bins 2-255, n_iter_no_change 1-1000, n_jobs 1-16 (default 1: one core)."""
    test_size: float = Field(default=0.25, gt=0, lt=1)
    """Share of rows held out for validation."""
    seed: int = Field(default=42, ge=0)
    """Seed of the deterministic split and of the estimator."""
    template: FreeForm | None = None
    """A full pod template for a custom trainer; it gets the same environment and must honour
    the same termination-message contract."""

    @field_validator("params")
    @classmethod
    def _bounded(cls, params: dict[str, Any] | None) -> dict[str, Any] | None:
        problems = param_problems(params)
        if problems:
            raise ValueError("; ".join(problems))
        return params


class JobSettings(ApiModel):
    """Settings of the training Job."""

    backoff_limit: int = Field(default=1, ge=0, le=10)
    """Retries of a failed pod."""
    active_deadline_seconds: int = Field(default=3600, ge=10, le=MAX_ACTIVE_DEADLINE_SECONDS)
    """Longest a run may take (at most a day)."""
    ttl_seconds_after_finished: int = Field(default=86400, ge=0)
    """How long finished Jobs are kept."""


class Output(ApiModel):
    """Where trained models are written."""

    uri: str = Field(pattern=OUTPUT_URI_PATTERN, max_length=2048)
    """file:// or pvc:// base location (what the trainer can write); each run writes into <uri>/<run-id>/."""


class MinImprovement(ApiModel):
    """How much better than the champion the candidate must be."""

    absolute: float = Field(default=0.0, ge=0)
    """In the metric's unit."""
    relative: float = Field(default=0.0, ge=0)
    """As a fraction of the champion's value."""


class FairnessGate(ApiModel):
    """Largest allowed gaps between the groups of a sensitive attribute."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "has(self.maxDemographicParityDifference) || has(self.maxEqualOpportunityDifference)",
                "set maxDemographicParityDifference, maxEqualOpportunityDifference or both",
            )
        )
    )

    sensitive_attribute: str = Field(min_length=1, max_length=256)
    """Column holding the group; it is not used as a feature."""
    max_demographic_parity_difference: float | None = Field(default=None, ge=0, le=1)
    """Largest gap in positive prediction rate between groups."""
    max_equal_opportunity_difference: float | None = Field(default=None, ge=0, le=1)
    """Largest gap in true positive rate between groups."""

    @model_validator(mode="after")
    def _some_limit(self) -> FairnessGate:
        if self.max_demographic_parity_difference is None and self.max_equal_opportunity_difference is None:
            raise ValueError("set maxDemographicParityDifference, maxEqualOpportunityDifference or both")
        return self


class Validation(ApiModel):
    """The gate a candidate passes before promotion."""

    metric: MetricName = "accuracy"
    """Metric compared on the shared test split."""
    minimum: float | None = None
    """Absolute floor (a ceiling when lower is better)."""
    min_improvement: MinImprovement = nested(MinImprovement)
    """Required improvement over the champion."""
    greater_is_better: bool | None = None
    """Direction of the metric; by default false for rmse and mae, true otherwise."""
    fairness: FairnessGate | None = None
    """Fairness limits."""

    def higher_is_better(self) -> bool:
        """Whether a larger metric value is better, from the explicit flag or the metric."""
        if self.greater_is_better is not None:
            return self.greater_is_better
        return self.metric not in LOWER_IS_BETTER


class Promotion(ApiModel):
    """What happens to a candidate that passed validation."""

    mode: Literal["auto", "manual"] = "auto"
    """auto promotes at once; manual waits for the mlaiops.dev/approve annotation."""
    approval_timeout: Duration = "1d"
    """How long a manual promotion waits before the candidate expires."""


MLFLOW_URI_PATTERN = r"^https?://[^\s/]+(/\S*)?$"
MLFLOW_EXPERIMENT_PATTERN = r"^[^\x00-\x1f]+$"
MLFLOW_MODEL_PATTERN = r"^[^/:\x00-\x1f]+$"  # MLflow refuses / and : in registered model names


class MlflowSpec(ApiModel):
    """Log every run to an MLflow tracking server and keep its Model Registry in step with promotions.

    The trainer logs params, metrics and the model (the Job gets ``MLFLOW_TRACKING_URI`` and
    ``MLFLOW_EXPERIMENT_NAME``); the operator registers each candidate as a version of
    ``registeredModel`` with the alias ``challenger`` and moves ``champion`` on promotion.
    MLflow being unreachable never stops retraining: the failure is reported in the MLflowSynced condition.
    """

    tracking_uri: str = Field(pattern=MLFLOW_URI_PATTERN, max_length=2048)
    """http(s):// address of the MLflow tracking server (it must also serve the Model Registry and artifacts)."""
    experiment: str | None = Field(default=None, pattern=MLFLOW_EXPERIMENT_PATTERN, max_length=256)
    """Experiment of the runs; mlaiops/<namespace>/<policy> by default."""
    registered_model: str | None = Field(default=None, pattern=MLFLOW_MODEL_PATTERN, max_length=256)
    """Registered model that receives a version per candidate; the policy's name by default."""


class RetrainPolicySpec(ApiModel):
    """Desired state of a RetrainPolicy."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.validation) || !has(self.validation.fairness) "
                "|| self.validation.fairness.sensitiveAttribute != self.dataset.target",
                "must not be the target column (spec.dataset.target)",
                message_expression="'must not be the target column ' + self.dataset.target",
                field_path=".validation.fairness.sensitiveAttribute",
            )
        )
    )

    model_deployment_ref: LocalObjectReference | None = None
    """The ModelDeployment whose current model is the champion."""
    triggers: Triggers = nested(Triggers)
    """When to retrain."""
    dataset: Dataset
    """Training data."""
    trainer: TrainerSpec = nested(TrainerSpec)
    """How to train."""
    job: JobSettings = nested(JobSettings)
    """Job settings."""
    output: Output
    """Where models go."""
    validation: Validation = nested(Validation)
    """Gate before promotion."""
    promotion: Promotion = nested(Promotion)
    """Promotion policy."""
    history_limit: int = Field(default=20, ge=1, le=100)
    """Runs kept in status."""
    suspend: bool = False
    """Start no new runs."""
    mlflow: MlflowSpec | None = None
    """Optional MLflow tracking and Model Registry (needs the mlflow extra in the image)."""


# --- status ------------------------------------------------------------------------------------


class PromotedModel(ApiModel):
    """The model the policy promoted; ModelDeployments with source.retrainPolicyRef serve it."""

    uri: str
    """Artifact location."""
    sha256: str = Field(pattern=SHA256_PATTERN)
    """Artifact hash."""
    version: str
    """Version label."""
    run_id: str
    """Run that produced it."""
    metrics: dict[str, float] | None = None
    """Its validation metrics."""
    promoted_at: datetime | None = None
    """When it was promoted."""
    mlflow_model_version: str | None = None
    """Its version in the MLflow Model Registry (the champion alias points to it)."""
    top_features: list[str] | None = None
    """Its most important features, most important first (permutation importance on the test split)."""
    fairness: dict[str, float] | None = None
    """Its fairness gaps on the test split when validation.fairness.sensitiveAttribute is set: the largest difference
    between groups of the positive prediction rate (demographic_parity_difference) and of the true
    positive rate (equal_opportunity_difference); 0 is parity."""


class MlflowRunLineage(ApiModel):
    """Where a run lives in MLflow."""

    run_id: str | None = None
    """MLflow run that logged the params, metrics and model."""
    model_uri: str | None = None
    """MLflow URI of the logged model (models:/<model-id>)."""
    model_version: str | None = None
    """Version registered from it in the Model Registry."""
    error: str | None = None
    """Why logging or registering failed, when it did."""


class RunRecord(ApiModel):
    """One retraining run, with its lineage."""

    id: str
    """Run id."""
    trigger: Literal["schedule", "anomaly", "manual", "playbook"]
    """What started it."""
    reason: str = ""
    """Why, for people."""
    job: str | None = None
    """Name of the Job."""
    phase: Literal["Pending", "Running", "Succeeded", "Rejected", "Promoted", "AwaitingApproval", "Expired", "Failed"]
    """Where the run is."""
    started_at: datetime | None = None
    """When the Job was created."""
    finished_at: datetime | None = None
    """When the decision was taken."""
    dataset_uri: str | None = None
    """Data used."""
    dataset_sha256: str | None = None
    """Hash of the data used."""
    params: FreeForm | None = None
    """Estimator parameters."""
    candidate_metrics: dict[str, float] | None = None
    """Metrics of the new model on the test split."""
    champion_metrics: dict[str, float] | None = None
    """Metrics of the current model on the same split."""
    top_features: list[str] | None = None
    """Most important features of the candidate (permutation importance), most important first."""
    fairness: dict[str, float] | None = None
    """Fairness gaps of the candidate on the test split (see promoted.fairness), when a sensitive
    attribute is set; what validation.fairness judged."""
    champion_fairness: dict[str, float] | None = None
    """The same gaps of the current model on the same rows."""
    model_uri: str | None = None
    """Where the candidate was written."""
    model_sha256: str | None = None
    """Hash of the candidate."""
    profile_sha256: str | None = None
    """Hash of the candidate's reference profile (profile.json beside the model), which drift rules score against."""
    decision: str | None = None
    """Promoted, Rejected (and why), Failed (and why)."""
    rollout_outcome: str | None = None
    """What the ModelDeployment did with it: Promoted or RolledBack."""
    mlflow: MlflowRunLineage | None = None
    """The run in MLflow, when spec.mlflow is set."""


class MlflowStatus(ApiModel):
    """What the operator last wrote to the MLflow Model Registry."""

    registered_model: str
    """Registered model the aliases belong to."""
    champion_version: str | None = None
    """Version the champion alias was moved to."""
    challenger_version: str | None = None
    """Version the challenger alias was moved to (the newest candidate)."""


class RetrainPolicyStatus(ApiModel):
    """Observed state of a RetrainPolicy."""

    phase: Literal["Idle", "Training", "AwaitingApproval", "Suspended", "Failed", "Invalid"] | None = None
    """Short summary for printer columns: Invalid for a refused spec; Failed when the newest finished run failed
    (condition LastRunFailed says why)."""
    observed_generation: int | None = None
    """The spec generation this status describes."""
    promoted: PromotedModel | None = None
    """The current champion produced by this policy."""
    last_run: str | None = None
    """Id of the newest run."""
    last_schedule_time: datetime | None = None
    """When the schedule last fired."""
    next_schedule_time: datetime | None = None
    """When it fires next."""
    last_request: str | None = None
    """The last mlaiops.dev/retrain annotation value acted on, so each request starts one run."""
    firings_seen: dict[str, int] | None = None
    """Firings of each triggering AnomalyRule already counted towards consecutiveFirings."""
    runs: list[RunRecord] | None = Field(default=None, max_length=100)
    """Runs, newest first (bounded by historyLimit)."""
    mlflow: MlflowStatus | None = None
    """Model Registry aliases, when spec.mlflow is set."""
    conditions: Conditions | None = None
    """LastRunFailed (once a run has finished: True with reason RunFailed and the run's error, e.g. the
    trainer's termination message, when the newest finished run failed; False with reason RunSucceeded
    when it trained, whatever the gate decided), MLflowSynced, ResolvedRefs, Training, and Ready=False
    (InvalidSpec, DanglingReference)."""
