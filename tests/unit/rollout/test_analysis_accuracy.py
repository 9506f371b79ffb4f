"""The built-in metrics on delayed labels: model-accuracy and accuracy-vs-stable (docs/feedback.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlaiops.api.modeldeployment import AnalysisMetric
from mlaiops.rollout.analysis import QueryContext, TrackCounts, judge_relative, relative_queries, render_query

pytestmark = pytest.mark.unit

STABLE = QueryContext("fraud", "prod", "fraud-model", "v6", "stable", "301s")
SELECTOR = 'namespace="prod", model="fraud-model", version="v6", track="stable"'


def accuracy_vs_stable(**fields: object) -> AnalysisMetric:
    return AnalysisMetric.model_validate({"name": "accuracy-vs-stable", **fields})


def test_model_accuracy_is_built_in_and_no_labels_is_no_data() -> None:
    query = render_query(AnalysisMetric(name="model-accuracy", threshold_range={"min": 0.9}), STABLE)
    assert query == (
        f"(sum(increase(mlaiops_model_feedback_correct_total{{{SELECTOR}}}[301s]))"
        f" / sum(increase(mlaiops_model_feedback_labels_total{{{SELECTOR}}}[301s]))) >= 0"
    )  # 0/0 is NaN, and NaN >= 0 drops the sample: onNoData decides, never a made-up accuracy


def test_accuracy_vs_stable_counts_labels_and_misclassified_labels() -> None:
    assert relative_queries(accuracy_vs_stable(), STABLE) == {
        "requests": f"sum(increase(mlaiops_model_feedback_labels_total{{{SELECTOR}}}[301s]))",
        "errors": f"sum(increase(mlaiops_model_feedback_labels_total{{{SELECTOR}}}[301s]))"
        f" - sum(increase(mlaiops_model_feedback_correct_total{{{SELECTOR}}}[301s]))",
    }


def test_accuracy_vs_stable_is_inconclusive_below_min_labels_then_decides() -> None:
    metric = accuracy_vs_stable(minSampleSize=100, alpha=0.01)
    few = judge_relative(metric, TrackCounts(99, 50), TrackCounts(5000, 500))
    assert few.outcome == "Inconclusive" and few.value is None
    assert few.message == (
        "inconclusive: 99 canary and 5000 stable labelled predictions in the window, minSampleSize 100 of each"
    )
    worse = judge_relative(metric, TrackCounts(200, 40), TrackCounts(5000, 500))  # 80% vs 90%
    assert worse.outcome == "Failed" and worse.value is not None and worse.value < 0.01
    assert worse.message.startswith("canary accuracy 80.00% (160/200) vs stable 90.00% (4500/5000) is lower")
    same = judge_relative(metric, TrackCounts(200, 20), TrackCounts(5000, 500))
    assert same.outcome == "Successful" and "canary accuracy 90.00% (180/200)" in same.message
    better = judge_relative(metric, TrackCounts(200, 2), TrackCounts(5000, 500))
    assert better.outcome == "Successful" and better.value is not None and better.value > 0.99


def test_extrapolated_counts_out_of_range_are_clamped() -> None:
    """increase() extrapolates each counter alone: labels - correct can dip below 0 or exceed the labels."""
    metric = accuracy_vs_stable(minSampleSize=10)
    dip = judge_relative(metric, TrackCounts(100, -0.4), TrackCounts(100, 3))
    assert dip.outcome == "Successful" and "100.00% (100/100)" in dip.message
    over = judge_relative(metric, TrackCounts(100, 100.3), TrackCounts(100, 3))
    assert over.outcome == "Failed" and "0.00% (0/100)" in over.message


def test_the_accuracy_metrics_take_the_fields_of_their_kind() -> None:
    with pytest.raises(ValidationError, match="thresholdRange is required"):
        AnalysisMetric(name="model-accuracy")
    with pytest.raises(ValidationError, match="accuracy-vs-stable is computed from both tracks: remove thresholdRange"):
        AnalysisMetric.model_validate({"name": "accuracy-vs-stable", "thresholdRange": {"min": 0.9}})
    with pytest.raises(ValidationError, match=r"only .*accuracy-vs-stable take minSampleSize"):
        AnalysisMetric.model_validate({"name": "model-accuracy", "thresholdRange": {"min": 0.9}, "minSampleSize": 5})
    assert accuracy_vs_stable(minSampleSize=20).min_sample_size == 20


def test_exactly_min_sample_size_labels_on_each_track_is_judged() -> None:
    metric = accuracy_vs_stable(minSampleSize=100, alpha=0.01)
    judged = judge_relative(metric, TrackCounts(100, 60), TrackCounts(100, 5))
    assert judged.outcome == "Failed" and judged.value is not None


def test_a_p_value_equal_to_alpha_passes_as_for_the_error_rate() -> None:
    from mlaiops.rollout.judge import sequential_worse_p

    p = sequential_worse_p(30, 200, 10, 200)
    assert 0 < p < 0.5
    judged = judge_relative(accuracy_vs_stable(minSampleSize=50, alpha=p), TrackCounts(200, 30), TrackCounts(200, 10))
    assert judged.outcome == "Successful" and judged.value == p
    assert "sequential p=" in judged.message and f">= alpha {p:g}" in judged.message
