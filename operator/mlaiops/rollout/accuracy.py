"""The built-in metric model-accuracy: the canary's share of correct labelled predictions, judged here, pure.

The model server counts every joined ground-truth label (``mlaiops_model_feedback_labels_total``) and those
equal to the predicted class (``mlaiops_model_feedback_correct_total``, classifiers only; docs/feedback.md).
A PromQL ratio of the two hides how many labels it rests on: 3 of 3 correct passes at 100%. So the controller
asks for both counts over the metric's interval and this module judges them: no label is no data (onNoData
decides, as before), fewer than minSampleSize labels is Inconclusive and never a pass, otherwise the accuracy is
held to thresholdRange.
"""

from __future__ import annotations

import math
from dataclasses import replace

from mlaiops.api.modeldeployment import AnalysisMetric
from mlaiops.rollout.analysis import DEFAULT_MIN_SAMPLE_SIZE, TRACK_SELECTOR, MetricOutcome, judge

QUERY = (
    f"label_replace(sum(increase(mlaiops_model_feedback_labels_total{{{TRACK_SELECTOR}}}[{{{{interval}}}}])),"
    ' "counter", "labels", "", "")'
    f" or label_replace(sum(increase(mlaiops_model_feedback_correct_total{{{TRACK_SELECTOR}}}[{{{{interval}}}}])),"
    ' "counter", "correct", "", "")'
)
"""Both counts over the interval in one evaluation (so at one instant), told apart by their ``counter`` label
("labels" or "correct"); a counter with no series is absent from the answer."""


def judge_accuracy(metric: AnalysisMetric, correct: float | None, labels: float | None) -> MetricOutcome:
    """correct / labels against thresholdRange; no label (or no count of correct ones) is no data for onNoData,
    fewer than minSampleSize labels is Inconclusive.

    ``increase()`` extrapolates each counter on its own, so the counts may be fractional and ``correct`` may
    exceed ``labels`` a little: they are compared as they are, ``correct`` capped at ``labels``, and shown
    rounded down (so a count shown is never at minSampleSize while below it).
    """
    if labels is None or not labels > 0:
        judged = judge(metric, None)
        return replace(judged, message=f"no labelled predictions in the interval: {judged.message}")
    if correct is None or math.isnan(correct):
        judged = judge(metric, None)
        return replace(
            judged,
            message=f"{math.floor(labels)} labelled predictions in the interval but no count of correct ones "
            f"(not a classifier): {judged.message}",
        )
    right = min(correct, labels)
    counted = f"{math.floor(labels)} labelled predictions in the interval, {math.floor(right)} correct"
    minimum = metric.min_sample_size or DEFAULT_MIN_SAMPLE_SIZE
    if labels < minimum:
        return MetricOutcome(metric.name, "Inconclusive", None, f"inconclusive: {counted}, minSampleSize {minimum}")
    accuracy = right / labels
    judged = judge(metric, accuracy)
    return MetricOutcome(metric.name, judged.outcome, accuracy, f"accuracy {judged.message} ({counted})")
