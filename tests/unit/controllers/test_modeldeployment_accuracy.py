"""The controller's side of model-accuracy: the canary's labelled and correct counts in one query, judged in the
operator (rollout/accuracy.py)."""

from __future__ import annotations

import pytest

from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.controllers.modeldeployment import run_analysis
from mlaiops.metrics.provider import Sample
from tests.unit.controllers.test_modeldeployment_rocauc import NOW, STATUS, FakePrometheus

pytestmark = pytest.mark.unit


def spec(**fields: object) -> ModelDeploymentSpec:
    accuracy = {"name": "model-accuracy", "thresholdRange": {"min": 0.9}, "minSampleSize": 20, **fields}
    return ModelDeploymentSpec.model_validate(
        {"model": {"storageUri": "file:///m/v2.joblib"}, "analysis": {"interval": "45s", "metrics": [accuracy]}}
    )


def counts(labels: float | None, correct: float | None) -> list[Sample]:
    named = {"labels": labels, "correct": correct}
    return [Sample({"counter": counter}, value) for counter, value in named.items() if value is not None]


def analyse(prometheus: FakePrometheus, **fields: object):  # type: ignore[no-untyped-def]
    (outcome,) = run_analysis(prometheus, spec(**fields), STATUS, "prod", "fraud", NOW)  # type: ignore[arg-type]
    return outcome


def test_the_canary_counts_over_the_interval_make_the_accuracy_in_one_query() -> None:
    prometheus = FakePrometheus(counts(40, 38))
    outcome = analyse(prometheus)
    assert (outcome.name, outcome.outcome, outcome.value) == ("model-accuracy", "Successful", 0.95)
    assert outcome.message == "accuracy 0.95 is within range (40 labelled predictions in the interval, 38 correct)"
    (query,) = prometheus.queries
    assert query.startswith("label_replace(sum(increase(mlaiops_model_feedback_labels_total{")
    assert "mlaiops_model_feedback_correct_total{" in query
    assert query.count('version="v2", track="canary"}[45s]') == 2  # the metric's interval, not the rollout's window
    assert analyse(FakePrometheus(counts(40, 30))).outcome == "Failed"


def test_few_labels_no_labels_no_correct_count_and_nan() -> None:
    few = analyse(FakePrometheus(counts(3, 3)), onNoData="pass")
    assert (few.outcome, few.value) == ("Inconclusive", None)  # 3 of 3 is not a pass
    assert few.message == "inconclusive: 3 labelled predictions in the interval, 3 correct, minSampleSize 20"
    none = analyse(FakePrometheus([]), onNoData="pass")
    assert (none.outcome, none.message) == (
        "Successful",
        "no labelled predictions in the interval: no data (onNoData: pass)",
    )
    zero = analyse(FakePrometheus(counts(0, 0)), onNoData="fail")
    assert (zero.outcome, zero.value) == ("Failed", None)
    regressor = analyse(FakePrometheus(counts(40, None)))
    assert regressor.outcome == "Inconclusive" and "no count of correct ones" in regressor.message
    nan = analyse(FakePrometheus(counts(40, float("nan"))))  # NaN is no sample, never an accuracy
    assert nan.outcome == "Inconclusive" and "no count of correct ones" in nan.message
    stray = analyse(FakePrometheus([*counts(40, 38), Sample({}, 7.0)]))  # only the two named counts are read
    assert stray.value == 0.95


def test_an_unreachable_prometheus_is_an_error() -> None:
    down = analyse(FakePrometheus([], down=True))
    assert (down.outcome, down.value, down.message) == ("Error", None, "connection refused")
