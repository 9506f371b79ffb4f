"""Canary analysis, pure: PromQL templating, built-in metrics and judging one value.

The controller runs the queries through a ``MetricsProvider``; this module only says what
to ask and what the answer means. A provider error is never a pass or a fail: it is
``Error`` and counts against ``consecutiveErrorLimit`` on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from mlaiops.api.common import seconds
from mlaiops.api.modeldeployment import AnalysisMetric, AnalysisSpec
from mlaiops.rollout.judge import (
    Comparison,
    bucket_counts,
    compare_error_rates,
    compare_latencies,
    sequential_worse_p,
)

Outcome = Literal["Successful", "Failed", "Error", "Inconclusive"]

# The labels every built-in query selects one model track's series by (the model server's own labels).
TRACK_SELECTOR = 'namespace="{{namespace}}", model="{{model}}", version="{{version}}", track="{{track}}"'
BUILTIN_QUERIES: dict[str, str] = {
    # Share of the requests the model was asked to answer that it answered without a server error.
    # 4xx are left out of both sides: a client's bad request is not the model's failure, and a flood
    # of them must neither fail a good canary nor dilute the errors of a bad one.
    # A track that answered only errors has no success series: ``or vector(0)`` makes that 0, not no data;
    # a track that answered nothing still has no denominator, so it stays no data.
    "request-success-rate": (
        f'(sum(rate(mlaiops_model_requests_total{{{TRACK_SELECTOR}, code!~"[45].."}}[{{{{interval}}}}])) or vector(0))'
        f' / sum(rate(mlaiops_model_requests_total{{{TRACK_SELECTOR}, code!~"4.."}}[{{{{interval}}}}]))'
    ),
    # 99th percentile latency in seconds.
    "request-duration": (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(mlaiops_model_request_duration_seconds_bucket{{{TRACK_SELECTOR}}}[{{{{interval}}}}])))"
    ),
    # model-accuracy and model-roc-auc are judged from counts in the operator: rollout/accuracy.py, rollout/rocauc.py.
}
# The relative metrics: per track (stable and canary, each with its own version), counts over the same
# window, from the rollout's start; the judge compares them. Same 4xx rule as request-success-rate.
RELATIVE_QUERIES: dict[str, dict[str, str]] = {
    "error-rate-vs-stable": {
        "requests": f'sum(increase(mlaiops_model_requests_total{{{TRACK_SELECTOR}, code!~"4.."}}[{{{{interval}}}}]))',
        "errors": f'sum(increase(mlaiops_model_requests_total{{{TRACK_SELECTOR}, code=~"5.."}}[{{{{interval}}}}]))',
    },
    # Misclassified share of the labelled predictions: the error-rate test, on labels instead of requests.
    "accuracy-vs-stable": {
        "requests": f"sum(increase(mlaiops_model_feedback_labels_total{{{TRACK_SELECTOR}}}[{{{{interval}}}}]))",
        "errors": (
            f"sum(increase(mlaiops_model_feedback_labels_total{{{TRACK_SELECTOR}}}[{{{{interval}}}}]))"
            f" - sum(increase(mlaiops_model_feedback_correct_total{{{TRACK_SELECTOR}}}[{{{{interval}}}}]))"
        ),
    },
    "latency-vs-stable": {
        "buckets": (
            f"sum by (le) (increase(mlaiops_model_request_duration_seconds_bucket{{{TRACK_SELECTOR}}}[{{{{interval}}}}]))"
        ),
    },
}
BEFORE_ROLLOUT = "10m"
"""latency-vs-stable: stable's histogram over this window, ENDING when the rollout began (the query is evaluated at
``status.rolloutStartedAt``), weights the bounds (judge.bound_weights): data no canary request can influence."""
DEFAULT_MIN_SAMPLE_SIZE = 50
"""Requests each track needs before a relative metric may pass or fail (benchmarks/canary_judge.py)."""
DEFAULT_ALPHA = 0.01
"""latency-vs-stable: the bound on false failures over the whole rollout, every evaluation included (the test is
sequential, rollout/judge.py; benchmarks/canary_judge.py measures what it costs and catches)."""
DEFAULT_ERROR_RATE_ALPHA = 0.01
"""error-rate-vs-stable: the bound on false failures over the whole rollout, every evaluation included (the test is
sequential, rollout/judge.py; benchmarks/canary_judge.py measures what it costs and catches)."""
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class QueryContext:
    """What a metric query may refer to."""

    name: str
    namespace: str
    model: str
    version: str
    track: str
    interval: str


@dataclass(frozen=True)
class MetricOutcome:
    """The result of evaluating one metric once."""

    name: str
    outcome: Outcome
    value: float | None = None
    message: str = ""


def query_window(spec: AnalysisSpec, metric: AnalysisMetric) -> str:
    """The range used in ``rate(...[{{interval}}])``: the metric's interval, at least 4 scrapes wide."""
    interval = metric.interval or spec.interval
    return interval if seconds(interval) >= 4 else "4s"


def comparison_window(started: datetime | None, now: datetime) -> str:
    """The window of a relative metric: from the rollout's start to now, at least 4 scrapes wide."""
    elapsed = (now - started).total_seconds() if started is not None else 0.0
    return f"{max(4, math.ceil(elapsed))}s"


def render_query(metric: AnalysisMetric, context: QueryContext, template: str | None = None) -> str:
    """The PromQL to run: ``template``, else the metric's own query or its built-in one, with placeholders filled."""
    template = template or metric.query or BUILTIN_QUERIES[metric.name]
    values = {
        "name": context.name,
        "namespace": context.namespace,
        "model": context.model,
        "version": context.version,
        "track": context.track,
        "interval": context.interval,
    }

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"unknown placeholder {{{{{key}}}}} in the query of metric {metric.name}")
        return values[key]

    return _PLACEHOLDER.sub(substitute, template)


def judge(metric: AnalysisMetric, value: float | None, error: str | None = None) -> MetricOutcome:
    """Turn one query answer into an outcome, following thresholdRange and onNoData."""
    if error is not None:
        return MetricOutcome(metric.name, "Error", None, error)
    if value is None:
        no_data: dict[str, Outcome] = {"fail": "Failed", "pass": "Successful", "inconclusive": "Inconclusive"}
        outcome = no_data[metric.on_no_data]
        return MetricOutcome(metric.name, outcome, None, f"no data (onNoData: {metric.on_no_data})")
    bounds = metric.threshold_range
    if bounds is None:  # the relative metrics have none; they are judged by judge_relative
        raise ValueError(f"metric {metric.name} has no thresholdRange")
    if bounds.min is not None and value < bounds.min:
        return MetricOutcome(metric.name, "Failed", value, f"{value:.6g} is below the minimum {bounds.min:g}")
    if bounds.max is not None and value > bounds.max:
        return MetricOutcome(metric.name, "Failed", value, f"{value:.6g} is above the maximum {bounds.max:g}")
    return MetricOutcome(metric.name, "Successful", value, f"{value:.6g} is within range")


@dataclass(frozen=True)
class TrackCounts:
    """One track's counts over the comparison window (zeros: no data)."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()
    """Cumulative latency histogram: (le, requests at or below it), +Inf included."""


def relative_queries(metric: AnalysisMetric, context: QueryContext) -> dict[str, str]:
    """The PromQL of a relative metric for one track (``context.track``/``version``), by what it counts."""
    return {key: render_query(metric, context, template) for key, template in RELATIVE_QUERIES[metric.name].items()}


def before_rollout_query(metric: AnalysisMetric, stable: QueryContext) -> str | None:
    """latency-vs-stable's one extra query: stable's histogram over ``BEFORE_ROLLOUT``, to be evaluated at the
    rollout's start; None for the other metrics."""
    if metric.name != "latency-vs-stable":
        return None
    return relative_queries(metric, replace(stable, interval=BEFORE_ROLLOUT))["buckets"]


def _aligned(canary: TrackCounts, stable: TrackCounts) -> tuple[list[float], list[float], list[float]]:
    """Both tracks' counts per bucket over the bounds both export."""
    both = sorted({le for le, _ in canary.buckets} & {le for le, _ in stable.buckets})
    if not both:
        return [], [], []

    def counts(track: TrackCounts) -> list[float]:
        return bucket_counts([(le, total) for le, total in track.buckets if le in both])

    return both, counts(canary), counts(stable)


def _before(bounds: list[float], before: TrackCounts | None) -> list[float] | None:
    """Stable's counts per bucket before the rollout over ``bounds``; None unless it exports every one of them."""
    if before is None:
        return None
    cumulative = {le: total for le, total in before.buckets}
    if not bounds or any(le not in cumulative for le in bounds):
        return None
    return bucket_counts([(le, cumulative[le]) for le in bounds])


def judge_relative(
    metric: AnalysisMetric, canary: TrackCounts, stable: TrackCounts, before: TrackCounts | None = None
) -> MetricOutcome:
    """Compare the canary with stable by the metric's test: Failed (worse), Successful, or Inconclusive (too few).

    ``before``: latency-vs-stable only, stable's histogram over a window that ended when the rollout began (the
    bounds' weights); None or other buckets than the tracks': equal weights."""
    min_samples = metric.min_sample_size or DEFAULT_MIN_SAMPLE_SIZE
    result: Comparison
    if metric.name == "error-rate-vs-stable":
        alpha = metric.alpha or DEFAULT_ERROR_RATE_ALPHA
        result = compare_error_rates(canary.errors, canary.requests, stable.errors, stable.requests, min_samples, alpha)
    elif metric.name == "accuracy-vs-stable":
        alpha = metric.alpha or DEFAULT_ERROR_RATE_ALPHA
        result = compare_accuracies(canary, stable, min_samples, alpha)
    else:
        alpha = metric.alpha or DEFAULT_ALPHA
        bounds, canary_counts, stable_counts = _aligned(canary, stable)
        result = compare_latencies(bounds, canary_counts, stable_counts, min_samples, alpha, _before(bounds, before))
    return MetricOutcome(metric.name, result.verdict, result.p_value, result.message)


def compare_accuracies(canary: TrackCounts, stable: TrackCounts, min_samples: int, alpha: float) -> Comparison:
    """Is the canary wrong more often than stable on the labels joined since the rollout began? (``requests``:
    labelled, ``errors``: misclassified; judge.py's sequential test, so alpha bounds false failures over the
    whole rollout, worded for accuracy.)"""
    if min(canary.requests, stable.requests) < min_samples:
        message = (
            f"inconclusive: {canary.requests:.0f} canary and {stable.requests:.0f} stable labelled predictions in "
            f"the window, minSampleSize {min_samples} of each"
        )
        return Comparison("Inconclusive", None, message)

    def wrong(track: TrackCounts) -> float:  # increase() extrapolates each counter on its own: keep it in range
        return min(max(track.errors, 0.0), track.requests)

    def shown(track: TrackCounts) -> str:
        right = track.requests - wrong(track)
        return f"{right / track.requests:.2%} ({right:.0f}/{track.requests:.0f})"

    p = sequential_worse_p(wrong(canary), canary.requests, wrong(stable), stable.requests)
    summary = f"canary accuracy {shown(canary)} vs stable {shown(stable)}"
    if p < alpha:
        return Comparison("Failed", p, f"{summary} is lower: sequential p={p:.3g} < alpha {alpha:g}")
    return Comparison("Successful", p, f"{summary}: sequential p={p:.3g} >= alpha {alpha:g}")
