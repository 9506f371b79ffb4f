"""The built-in metric model-roc-auc: the canary's ROC AUC from binned scores of its labelled predictions, pure.

The model server counts the positive-class probability of every joined label in histogram buckets by true
class (``mlaiops_model_feedback_score_bucket{positive="true"|"false"}``, docs/feedback.md). The AUC of two
binned distributions is the Mann-Whitney U statistic over n0 x n1, a pair within one bucket counting half
(the trapezoid rule): sum over buckets of positives x (negatives below + negatives in it / 2). PromQL cannot
pair a bucket with the one below it, so the controller asks for the bucket counts and this module does the rest,
as latency-vs-stable does with the latency histogram.

Too few labels in the interval, or labels of only one class, are Inconclusive, never a pass and never a value:
an AUC from a handful of labels would pass or fail a canary on noise.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlaiops.api.modeldeployment import AnalysisMetric
from mlaiops.rollout.analysis import DEFAULT_MIN_SAMPLE_SIZE, MetricOutcome, judge
from mlaiops.rollout.judge import bucket_counts

QUERY = (
    "sum by (positive, le) (increase(mlaiops_model_feedback_score_bucket{"
    'namespace="{{namespace}}", model="{{model}}", version="{{version}}", track="{{track}}"}[{{interval}}]))'
)
"""Per bucket bound and class (positive "true" or "false"), the labels joined over the metric's interval."""

Cumulative = Sequence[tuple[float, float]]
"""(le, labels at or below it) of one class, +Inf included, as Prometheus answers."""


def roc_auc(negative: Sequence[float], positive: Sequence[float]) -> float | None:
    """ROC AUC of labelled scores counted per bucket (same buckets, increasing bound); None without both classes.

    Counts may be fractional (``increase()`` extrapolates).
    """
    if len(negative) != len(positive):
        raise ValueError(f"the classes have {len(negative)} and {len(positive)} buckets: they must be the same")
    n0, n1 = sum(negative), sum(positive)
    if n0 <= 0 or n1 <= 0:
        return None
    area, below = 0.0, 0.0
    for neg, pos in zip(negative, positive, strict=True):
        area += pos * (below + neg / 2.0)
        below += neg
    return area / (n0 * n1)


def judge_roc_auc(metric: AnalysisMetric, negative: Cumulative, positive: Cumulative) -> MetricOutcome:
    """The canary's AUC against thresholdRange; Inconclusive below minSampleSize labels or with one class only."""
    bounds = sorted({le for le, _ in negative} & {le for le, _ in positive})
    negatives = bucket_counts([(le, total) for le, total in negative if le in bounds])
    positives = bucket_counts([(le, total) for le, total in positive if le in bounds])
    n0, n1 = sum(negatives), sum(positives)
    minimum = metric.min_sample_size or DEFAULT_MIN_SAMPLE_SIZE
    counted = f"{n0 + n1:.0f} labelled predictions in the interval ({n1:.0f} of the positive class)"
    if n0 + n1 < minimum:
        return MetricOutcome(metric.name, "Inconclusive", None, f"inconclusive: {counted}, minSampleSize {minimum}")
    auc = roc_auc(negatives, positives)
    if auc is None:
        return MetricOutcome(
            metric.name, "Inconclusive", None, f"inconclusive: {counted}: ROC AUC needs labels of both classes"
        )
    judged = judge(metric, auc)
    return MetricOutcome(metric.name, judged.outcome, auc, f"ROC AUC {judged.message} ({counted})")
