"""The controller's side of model-roc-auc: the canary's score buckets by class, judged in the operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlaiops.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus, ModelRef
from mlaiops.controllers.modeldeployment import run_analysis
from mlaiops.metrics.provider import ProviderError, Sample

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
STATUS = ModelDeploymentStatus(
    stable_model=ModelRef(version="v1"),
    canary_model=ModelRef(version="v2"),
    rollout_started_at=NOW - timedelta(hours=1),
)


class FakePrometheus:
    def __init__(self, samples: list[Sample], down: bool = False) -> None:
        self.samples, self.down, self.queries = samples, down, []

    def instant_sync(self, query: str) -> list[Sample]:
        self.queries.append(query)
        if self.down:
            raise ProviderError("connection refused")
        return self.samples


def spec(**fields: object) -> ModelDeploymentSpec:
    roc = {"name": "model-roc-auc", "thresholdRange": {"min": 0.75}, "minSampleSize": 20, **fields}
    return ModelDeploymentSpec.model_validate(
        {"model": {"storageUri": "file:///m/v2.joblib"}, "analysis": {"interval": "45s", "metrics": [roc]}}
    )


def buckets(positive: str, *cumulative: float) -> list[Sample]:
    return [
        Sample({"positive": positive, "le": le}, c) for le, c in zip(("0.5", "0.9", "+Inf"), cumulative, strict=True)
    ]


def test_the_canary_buckets_of_both_classes_over_the_interval_make_the_auc() -> None:
    # negatives: 10, 8, 2 per bucket; positives: 1, 4, 15
    prometheus = FakePrometheus([*buckets("false", 10, 18, 20), *buckets("true", 1, 5, 20), Sample({"le": "1"}, 5)])
    (outcome,) = run_analysis(prometheus, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    auc = (1 * 5 + 4 * (10 + 4) + 15 * (18 + 1)) / (20 * 20)
    assert (outcome.outcome, outcome.value) == ("Successful", pytest.approx(auc))
    assert "40 labelled predictions in the interval (20 of the positive class)" in outcome.message
    (query,) = prometheus.queries
    assert query.startswith("sum by (positive, le) (increase(mlaiops_model_feedback_score_bucket{")
    assert 'version="v2", track="canary"}[45s]' in query  # the metric's interval, not the rollout's window


def test_nan_counts_no_series_and_an_unreachable_prometheus() -> None:
    nan = FakePrometheus([*buckets("false", float("nan"), 18, 20), *buckets("true", 1, 5, 20)])
    (outcome,) = run_analysis(nan, spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert outcome.outcome == "Successful" and outcome.value == pytest.approx(
        (4 * 9 + 15 * 19) / 400
    )  # NaN: 0, so 0, 18, 2
    (empty,) = run_analysis(FakePrometheus([]), spec(onNoData="pass"), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert empty.outcome == "Inconclusive" and empty.value is None
    (down,) = run_analysis(FakePrometheus([], down=True), spec(), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    assert (down.outcome, down.message) == ("Error", "connection refused")
