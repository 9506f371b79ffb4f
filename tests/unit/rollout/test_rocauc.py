"""model-roc-auc: the AUC of binned scores, cross-checked against scikit-learn, and how it is judged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

from mlaiops.api.modeldeployment import AnalysisMetric
from mlaiops.rollout.analysis import QueryContext, render_query
from mlaiops.rollout.rocauc import QUERY, judge_roc_auc, roc_auc

pytestmark = pytest.mark.unit

BOUNDS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # the server's default --prediction-buckets
CANARY = QueryContext("fraud", "prod", "fraud-model", "v7", "canary", "60s")


def metric(**fields: object) -> AnalysisMetric:
    return AnalysisMetric.model_validate({"name": "model-roc-auc", "thresholdRange": {"min": 0.8}, **fields})


def binned(scores: np.ndarray, bounds: tuple[float, ...] = BOUNDS) -> np.ndarray:
    """The bucket of each score as the model server counts it: the first bound at or above it (+Inf last)."""
    return np.searchsorted(np.asarray(bounds), scores, side="left")


def counts(scores: np.ndarray, bounds: tuple[float, ...] = BOUNDS) -> list[float]:
    return np.bincount(binned(scores, bounds), minlength=len(bounds) + 1).astype(float).tolist()


def cumulative(per_bucket: list[float], bounds: tuple[float, ...] = BOUNDS) -> list[tuple[float, float]]:
    """What Prometheus answers for one class: (le, count at or below), +Inf included."""
    return list(zip([*bounds, math.inf], np.cumsum(per_bucket).tolist(), strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_the_binned_auc_is_scikit_learns_on_the_same_binned_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.random(400) < rng.uniform(0.1, 0.6)
    scores = np.clip(rng.normal(0.35 + 0.3 * truth * rng.uniform(0, 1), 0.2), 0, 1)
    mine = roc_auc(counts(scores[~truth]), counts(scores[truth]))
    # Ties within a bucket count half for scikit-learn too: it is the trapezoid rule on the same ranks.
    assert mine == pytest.approx(roc_auc_score(truth, binned(scores)), abs=1e-12)
    # 20 buckets lose little: the raw scores' AUC is close.
    assert mine == pytest.approx(roc_auc_score(truth, scores), abs=0.02)


def test_auc_extremes_ties_and_one_class() -> None:
    assert roc_auc([5, 0, 0], [0, 0, 5]) == 1.0  # every positive scored above every negative
    assert roc_auc([0, 0, 5], [5, 0, 0]) == 0.0  # the opposite: a model that learned the labels backwards
    assert roc_auc([0, 4, 0], [0, 4, 0]) == 0.5  # all in one bucket: every pair a tie, counted half
    assert roc_auc([1, 1], [1, 1]) == 0.5
    assert roc_auc([2, 0], [1, 3]) == pytest.approx((1 * 1 + 3 * 2) / 8)  # (1 tie x 1/2 x 2 + 3 above x 2) / 2x4
    assert roc_auc([0, 0], [3, 1]) is None and roc_auc([3, 1], [0, 0]) is None
    assert roc_auc([1, 0], [0, 1]) == 1.0 and roc_auc([0, 1], [1, 0]) == 0.0  # one label of each class is enough
    assert roc_auc([0.4, 0], [0, 0.3]) == 1.0  # extrapolated fractions of a label count (minSampleSize guards)
    assert roc_auc([0.5, 2.5], [1.5, 0.5]) == pytest.approx((1.5 * 0.25 + 0.5 * (0.5 + 1.25)) / 6)  # fractional
    with pytest.raises(ValueError, match="the classes have 2 and 3 buckets"):
        roc_auc([1, 1], [1, 1, 1])


def test_the_query_asks_for_both_classes_buckets_over_the_interval() -> None:
    assert render_query(metric(), CANARY, QUERY) == (
        "sum by (positive, le) (increase(mlaiops_model_feedback_score_bucket{"
        'namespace="prod", model="fraud-model", version="v7", track="canary"}[60s]))'
    )


def test_a_good_canary_passes_and_a_bad_one_fails_naming_the_auc_and_the_labels() -> None:
    negative, positive = [40, 30, 20, 10], [5, 10, 25, 60]
    bounds = (0.25, 0.5, 0.75)
    auc = roc_auc(negative, positive)
    assert auc is not None
    good = judge_roc_auc(metric(), cumulative(negative, bounds), cumulative(positive, bounds))
    assert (good.name, good.outcome, good.value) == ("model-roc-auc", "Successful", auc)
    assert (
        good.message
        == f"ROC AUC {auc:.6g} is within range (200 labelled predictions in the interval (100 of the positive class))"
    )
    bad = judge_roc_auc(metric(), cumulative(positive, bounds), cumulative(negative, bounds))
    assert bad.outcome == "Failed" and bad.value == pytest.approx(1 - auc)
    assert bad.message.startswith(f"ROC AUC {1 - auc:.6g} is below the minimum 0.8 (200 labelled")
    capped = judge_roc_auc(
        metric(thresholdRange={"max": 0.6}), cumulative(negative, bounds), cumulative(positive, bounds)
    )
    assert capped.outcome == "Failed" and "is above the maximum 0.6" in capped.message


def test_too_few_labels_or_one_class_is_inconclusive_whatever_on_no_data_says() -> None:
    lenient = metric(minSampleSize=100, onNoData="pass")
    few = judge_roc_auc(lenient, cumulative([49, 0], (0.5,)), cumulative([0, 50], (0.5,)))
    assert (few.name, few.outcome, few.value) == ("model-roc-auc", "Inconclusive", None)
    assert (
        few.message
        == "inconclusive: 99 labelled predictions in the interval (50 of the positive class), minSampleSize 100"
    )
    enough = judge_roc_auc(lenient, cumulative([50, 0], (0.5,)), cumulative([0, 50], (0.5,)))
    assert (enough.outcome, enough.value) == ("Successful", 1.0)  # exactly minSampleSize is judged
    one_class = judge_roc_auc(lenient, cumulative([60, 90], (0.5,)), cumulative([0, 0], (0.5,)))
    assert (one_class.name, one_class.outcome, one_class.value) == ("model-roc-auc", "Inconclusive", None)
    assert one_class.message == (
        "inconclusive: 150 labelled predictions in the interval (0 of the positive class): ROC AUC needs labels of "
        "both classes"
    )
    nothing = judge_roc_auc(lenient, [], [])  # no series: no labels yet, or not a binary classifier
    assert nothing.outcome == "Inconclusive" and "0 labelled predictions" in nothing.message
    default = judge_roc_auc(metric(), cumulative([25, 0], (0.5,)), cumulative([0, 24], (0.5,)))
    assert default.outcome == "Inconclusive" and "minSampleSize 50" in default.message  # DEFAULT_MIN_SAMPLE_SIZE
    assert judge_roc_auc(metric(), cumulative([25, 0], (0.5,)), cumulative([0, 25], (0.5,))).outcome == "Successful"


def test_extrapolated_and_mismatched_buckets() -> None:
    """increase() extrapolates each series alone: a cumulative count may dip; only bounds both classes export count."""
    dipping = [(0.5, 30.2), (math.inf, 29.9)]  # the +Inf bucket below the 0.5 one: nothing above 0.5
    judged = judge_roc_auc(metric(minSampleSize=10), dipping, [(0.5, 0.0), (0.7, 5.0), (math.inf, 30.0)])
    assert judged.value == 1.0 and "60 labelled predictions" in judged.message  # 0.7 is not a bound of both


def test_model_roc_auc_takes_a_threshold_and_min_sample_size_only() -> None:
    assert metric(minSampleSize=200).min_sample_size == 200
    with pytest.raises(ValidationError, match=r"thresholdRange is required"):
        AnalysisMetric(name="model-roc-auc")
    with pytest.raises(ValidationError, match=r"model-roc-auc is computed from the score buckets: remove query, alpha"):
        metric(query="up", alpha=0.01)
    with pytest.raises(ValidationError, match=r"remove alpha \(it takes thresholdRange and minSampleSize\)"):
        metric(alpha=0.01)
    with pytest.raises(
        ValidationError,
        match=r"accuracy-vs-stable take minSampleSize \(model-accuracy and model-roc-auc take minSampleSize too\); "
        "remove it",
    ):
        AnalysisMetric.model_validate({"name": "request-duration", "thresholdRange": {"max": 1}, "minSampleSize": 5})
    with pytest.raises(ValidationError, match=r"accuracy-vs-stable take alpha; remove it"):
        AnalysisMetric.model_validate({"name": "request-duration", "thresholdRange": {"max": 1}, "alpha": 0.1})
    accuracy = {"name": "model-accuracy", "thresholdRange": {"min": 0.9}, "minSampleSize": 5}
    assert AnalysisMetric.model_validate(accuracy).min_sample_size == 5  # the other label metric takes one too
