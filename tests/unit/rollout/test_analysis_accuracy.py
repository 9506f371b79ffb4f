"""The built-in metrics on delayed labels: model-accuracy and accuracy-vs-stable (docs/feedback.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlaiops.api.modeldeployment import AnalysisMetric
from mlaiops.rollout.accuracy import QUERY as ACCURACY_QUERY
from mlaiops.rollout.accuracy import judge_accuracy
from mlaiops.rollout.analysis import (
    DEFAULT_MIN_SAMPLE_SIZE,
    QueryContext,
    TrackCounts,
    judge_relative,
    relative_queries,
    render_query,
)

pytestmark = pytest.mark.unit

STABLE = QueryContext("fraud", "prod", "fraud-model", "v6", "stable", "301s")
SELECTOR = 'namespace="prod", model="fraud-model", version="v6", track="stable"'


def accuracy_vs_stable(**fields: object) -> AnalysisMetric:
    return AnalysisMetric.model_validate({"name": "accuracy-vs-stable", **fields})


def model_accuracy(**fields: object) -> AnalysisMetric:
    return AnalysisMetric.model_validate({"name": "model-accuracy", "thresholdRange": {"min": 0.9}, **fields})


def test_model_accuracy_asks_for_both_counts_in_one_query() -> None:
    query = render_query(model_accuracy(), STABLE, ACCURACY_QUERY)
    assert query == (
        f'label_replace(sum(increase(mlaiops_model_feedback_labels_total{{{SELECTOR}}}[301s])), "counter", "labels", '
        '"", "")'
        f" or label_replace(sum(increase(mlaiops_model_feedback_correct_total{{{SELECTOR}}}[301s])), "
        '"counter", "correct", "", "")'
    )


def test_no_label_is_no_data_for_on_no_data() -> None:
    for labels in (None, 0.0, float("nan")):
        for on_no_data, outcome in (("inconclusive", "Inconclusive"), ("pass", "Successful"), ("fail", "Failed")):
            judged = judge_accuracy(model_accuracy(onNoData=on_no_data), 0.0, labels)
            assert (judged.name, judged.outcome, judged.value) == ("model-accuracy", outcome, None)
            assert judged.message == f"no labelled predictions in the interval: no data (onNoData: {on_no_data})"


def test_labels_without_a_count_of_correct_ones_are_no_data() -> None:
    """A regressor counts labels but exports no mlaiops_model_feedback_correct_total: no accuracy to judge."""
    for correct in (None, float("nan")):
        judged = judge_accuracy(model_accuracy(onNoData="fail"), correct, 120.7)
        assert (judged.outcome, judged.value) == ("Failed", None)
        assert judged.message == (
            "120 labelled predictions in the interval but no count of correct ones (not a classifier): "
            "no data (onNoData: fail)"
        )


def test_few_labels_are_inconclusive_whatever_the_accuracy_and_on_no_data() -> None:
    """3 of 3 correct is not 100%: below minSampleSize (default 50) it is never a pass."""
    for on_no_data in ("pass", "fail", "inconclusive"):
        judged = judge_accuracy(model_accuracy(onNoData=on_no_data), 3.0, 3.0)
        assert (judged.name, judged.outcome, judged.value) == ("model-accuracy", "Inconclusive", None)
        assert judged.message == (
            "inconclusive: 3 labelled predictions in the interval, 3 correct, minSampleSize 50"
        )  # DEFAULT_MIN_SAMPLE_SIZE
    assert DEFAULT_MIN_SAMPLE_SIZE == 50
    wrong = judge_accuracy(model_accuracy(), 1.0, 49.0)
    assert (wrong.outcome, wrong.value) == ("Inconclusive", None)  # a bad canary is not failed on 49 labels either
    judged = judge_accuracy(model_accuracy(), 50.0, 50.0)
    assert (judged.outcome, judged.value) == ("Successful", 1.0)  # exactly the default minimum is judged
    own = judge_accuracy(model_accuracy(minSampleSize=200), 199.0, 199.0)
    assert own.outcome == "Inconclusive" and own.message.endswith(", 199 correct, minSampleSize 200")
    small = judge_accuracy(model_accuracy(minSampleSize=1), 0.0, 1.0)
    assert (small.outcome, small.value) == ("Failed", 0.0)


def test_fractional_counts_are_compared_as_they_are_and_shown_rounded_down() -> None:
    """increase() extrapolates: 49.6 labels are below 50, and the message does not say 50."""
    below = judge_accuracy(model_accuracy(), 49.6, 49.6)
    assert below.outcome == "Inconclusive"
    assert below.message == "inconclusive: 49 labelled predictions in the interval, 49 correct, minSampleSize 50"
    above = judge_accuracy(model_accuracy(), 45.8, 50.4)
    assert above.outcome == "Successful" and above.value == pytest.approx(45.8 / 50.4)
    assert above.message == "accuracy 0.90873 is within range (50 labelled predictions in the interval, 45 correct)"


def test_enough_labels_are_judged_against_the_threshold_range() -> None:
    metric = model_accuracy(thresholdRange={"min": 0.9, "max": 0.99}, minSampleSize=100)
    good = judge_accuracy(metric, 190.0, 200.0)
    assert (good.name, good.outcome, good.value) == ("model-accuracy", "Successful", 0.95)
    assert good.message == "accuracy 0.95 is within range (200 labelled predictions in the interval, 190 correct)"
    bad = judge_accuracy(metric, 160.0, 200.0)
    assert (bad.outcome, bad.value) == ("Failed", 0.8)
    assert (
        bad.message == "accuracy 0.8 is below the minimum 0.9 (200 labelled predictions in the interval, 160 correct)"
    )
    suspicious = judge_accuracy(metric, 200.0, 200.0)
    assert (suspicious.outcome, suspicious.value) == ("Failed", 1.0)
    assert suspicious.message.startswith("accuracy 1 is above the maximum 0.99")


def test_more_correct_than_labels_counts_as_all_correct() -> None:
    """Each counter is extrapolated on its own: correct can read a little above labels; never an accuracy above 1."""
    judged = judge_accuracy(model_accuracy(minSampleSize=100), 300.6, 300.2)
    assert (judged.outcome, judged.value) == ("Successful", 1.0)
    assert judged.message.endswith("(300 labelled predictions in the interval, 300 correct)")


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
    assert model_accuracy(minSampleSize=5).min_sample_size == 5
    assert model_accuracy().min_sample_size is None  # the judge's default: DEFAULT_MIN_SAMPLE_SIZE
    with pytest.raises(
        ValidationError,
        match=r"model-accuracy is computed from the label counters: remove query, alpha "
        r"\(it takes thresholdRange and minSampleSize\)",
    ):
        model_accuracy(query="up", alpha=0.01)
    with pytest.raises(ValidationError, match=r"model-accuracy is computed from the label counters: remove alpha \("):
        model_accuracy(alpha=0.01)
    with pytest.raises(ValidationError, match=r"thresholdRange is required"):
        AnalysisMetric.model_validate({"name": "model-accuracy", "minSampleSize": 5})
    with pytest.raises(ValidationError, match=r"greater than or equal to 1"):
        model_accuracy(minSampleSize=0)
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
