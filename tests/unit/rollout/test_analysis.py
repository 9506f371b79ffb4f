"""Analysis metrics: templating, built-ins, and what a value, no value or an error means."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from mlaiops.api.modeldeployment import AnalysisMetric, AnalysisSpec
from mlaiops.rollout.analysis import (
    BEFORE_ROLLOUT,
    DEFAULT_ALPHA,
    DEFAULT_ERROR_RATE_ALPHA,
    DEFAULT_MIN_SAMPLE_SIZE,
    QueryContext,
    TrackCounts,
    before_rollout_query,
    comparison_window,
    judge,
    judge_relative,
    query_window,
    relative_queries,
    render_query,
)
from mlaiops.rollout.judge import bound_priors, bound_weights, sequential_slower_p

CONTEXT = QueryContext("fraud", "prod", "fraud-model", "v7", "canary", "30s")


def metric(**fields: object) -> AnalysisMetric:
    return AnalysisMetric.model_validate({"name": "latency", "thresholdRange": {"max": 0.25}, **fields})


def test_placeholders_are_filled() -> None:
    query = render_query(
        metric(query='x{ns="{{namespace}}",m="{{ model }}",v="{{version}}",t="{{track}}"}[{{interval}}]'), CONTEXT
    )
    assert query == 'x{ns="prod",m="fraud-model",v="v7",t="canary"}[30s]'


def test_unknown_placeholder_is_an_error_naming_it() -> None:
    with pytest.raises(KeyError, match=r"unknown placeholder \{\{pod\}\}"):
        render_query(metric(query="x{pod='{{pod}}'}"), CONTEXT)


def test_builtin_metrics_need_no_query() -> None:
    success = render_query(AnalysisMetric(name="request-success-rate", threshold_range={"min": 0.99}), CONTEXT)
    assert (
        'mlaiops_model_requests_total{namespace="prod", model="fraud-model", version="v7", track="canary", code!~"[45].."}[30s]'
        in success
    )
    assert success.startswith("(sum(rate(") and "[30s])) or vector(0)) / sum(" in success  # all errors: 0, not no data
    assert (  # 4xx are the client's: out of the denominator too
        '/ sum(rate(mlaiops_model_requests_total{namespace="prod", model="fraud-model", version="v7", track="canary", code!~"4.."}[30s]'
        in success
    )
    duration = render_query(AnalysisMetric(name="request-duration", threshold_range={"max": 0.5}), CONTEXT)
    assert duration.startswith("histogram_quantile(0.99") and "[30s]" in duration


@pytest.mark.parametrize(
    ("value", "error", "on_no_data", "outcome"),
    [
        (0.1, None, "inconclusive", "Successful"),
        (0.25, None, "inconclusive", "Successful"),
        (0.3, None, "inconclusive", "Failed"),
        (None, None, "inconclusive", "Inconclusive"),
        (None, None, "fail", "Failed"),
        (None, None, "pass", "Successful"),
        (None, "connection refused", "pass", "Error"),
        (0.1, "connection refused", "pass", "Error"),
    ],
)
def test_judge(value: float | None, error: str | None, on_no_data: str, outcome: str) -> None:
    result = judge(metric(query="x", onNoData=on_no_data), value, error)
    assert result.outcome == outcome
    if error:
        assert result.message == error


def test_minimum_bound_and_messages() -> None:
    success_rate = AnalysisMetric(name="request-success-rate", threshold_range={"min": 0.99})
    failed = judge(success_rate, 0.95)
    assert failed.outcome == "Failed" and failed.message == "0.95 is below the minimum 0.99"


def test_query_window_is_never_narrower_than_four_scrapes() -> None:
    spec = AnalysisSpec(interval="2s")
    assert query_window(spec, metric(query="x")) == "4s"
    assert query_window(AnalysisSpec(interval="1m"), metric(query="x")) == "1m"
    assert query_window(spec, metric(query="x", interval="10s")) == "10s"


# --- relative metrics: both tracks over the same window ------------------------------------------------


def relative(name: str, **fields: object) -> AnalysisMetric:
    return AnalysisMetric.model_validate({"name": name, **fields})


def test_relative_queries_count_each_track_over_the_rollout_window() -> None:
    window = comparison_window(
        datetime(2026, 1, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 5, 0, 500000, tzinfo=UTC)
    )
    assert window == "301s"
    stable = QueryContext("fraud", "prod", "fraud-model", "v6", "stable", window)
    queries = relative_queries(relative("error-rate-vs-stable"), stable)
    selector = 'namespace="prod", model="fraud-model", version="v6", track="stable"'
    assert queries == {
        "requests": f'sum(increase(mlaiops_model_requests_total{{{selector}, code!~"4.."}}[301s]))',
        "errors": f'sum(increase(mlaiops_model_requests_total{{{selector}, code=~"5.."}}[301s]))',
    }
    assert relative_queries(relative("latency-vs-stable"), stable) == {
        "buckets": f"sum by (le) (increase(mlaiops_model_request_duration_seconds_bucket{{{selector}}}[301s]))"
    }
    assert comparison_window(None, datetime(2026, 1, 1, tzinfo=UTC)) == "4s"


def test_relative_error_rate_below_min_samples_is_inconclusive_then_decides() -> None:
    metric = relative("error-rate-vs-stable", minSampleSize=100, alpha=0.01)
    few = judge_relative(metric, TrackCounts(99, 50), TrackCounts(5000, 10))
    assert (few.outcome, few.value) == ("Inconclusive", None) and "minSampleSize 100" in few.message
    worse = judge_relative(metric, TrackCounts(100, 8), TrackCounts(5000, 50))
    assert (
        worse.name == "error-rate-vs-stable"
        and worse.outcome == "Failed"
        and worse.value is not None
        and worse.value < 0.01
    )
    fine = judge_relative(metric, TrackCounts(100, 2), TrackCounts(5000, 50))
    assert fine.outcome == "Successful"
    defaults = judge_relative(relative("error-rate-vs-stable"), TrackCounts(49, 0), TrackCounts(49, 0))
    assert "minSampleSize 50" in defaults.message  # DEFAULT_MIN_SAMPLE_SIZE
    assert (DEFAULT_MIN_SAMPLE_SIZE, DEFAULT_ALPHA, DEFAULT_ERROR_RATE_ALPHA) == (50, 0.01, 0.01)
    # The error rate's default alpha: 0.01 over the rollout (the sequential p-value here is 0.0038).
    below = judge_relative(relative("error-rate-vs-stable"), TrackCounts(400, 33), TrackCounts(400, 10))
    assert below.outcome == "Failed" and below.message.endswith("sequential p=0.00379 < alpha 0.01")
    above = judge_relative(relative("error-rate-vs-stable"), TrackCounts(400, 30), TrackCounts(400, 10))
    assert above.outcome == "Successful" and above.message.endswith("sequential p=0.0111 >= alpha 0.01")
    loose = judge_relative(relative("error-rate-vs-stable", alpha=0.4), TrackCounts(100, 8), TrackCounts(100, 2))
    assert loose.outcome == "Failed" and "< alpha 0.4" in loose.message  # the metric's own alpha


def cumulative(
    counts: list[float], bounds: tuple[float, ...] = (0.05, 0.1, 0.25, math.inf)
) -> tuple[tuple[float, float], ...]:
    return tuple(zip(bounds, np.cumsum(counts).tolist(), strict=True))


def test_relative_latency_compares_the_buckets_both_tracks_export() -> None:
    metric = relative("latency-vs-stable")
    stable = TrackCounts(buckets=cumulative([500, 80, 15, 5]))
    slow = judge_relative(metric, TrackCounts(buckets=cumulative([20, 120, 50, 10])), stable)
    assert (
        slow.name == "latency-vs-stable"
        and slow.outcome == "Failed"
        and slow.message.startswith("canary slower than stable")
    )
    same = judge_relative(metric, TrackCounts(buckets=cumulative([160, 27, 8, 5])), stable)
    assert same.outcome == "Successful"
    # A bound only one track exports is left out; no buckets at all is no data: inconclusive.
    extra = TrackCounts(buckets=((0.01, 10.0), *cumulative([20, 120, 50, 10])))
    assert judge_relative(metric, extra, stable).value == slow.value
    assert judge_relative(metric, TrackCounts(), stable).outcome == "Inconclusive"


def test_relative_metrics_take_no_query_or_threshold_and_others_take_no_alpha() -> None:
    with pytest.raises(ValueError, match="error-rate-vs-stable is computed from both tracks: remove query"):
        relative("error-rate-vs-stable", query="x")
    with pytest.raises(ValueError, match="remove thresholdRange"):
        relative("latency-vs-stable", thresholdRange={"max": 1})
    with pytest.raises(
        ValueError,
        match="only error-rate-vs-stable, latency-vs-stable and accuracy-vs-stable take minSampleSize, alpha",
    ):
        metric(query="x", minSampleSize=5, alpha=0.01)
    with pytest.raises(ValueError, match="thresholdRange is required"):
        AnalysisMetric.model_validate({"name": "latency", "query": "x"})
    with pytest.raises(ValueError, match="alpha"):
        relative("latency-vs-stable", alpha=0.5)
    with pytest.raises(ValueError, match="has no thresholdRange"):
        judge(relative("latency-vs-stable"), 0.1)


def test_relative_latency_weighs_its_bounds_by_stables_histogram_before_the_rollout() -> None:
    metric = relative("latency-vs-stable")
    stable_context = QueryContext("fraud", "prod", "fraud-model", "v6", "stable", "301s")
    selector = 'namespace="prod", model="fraud-model", version="v6", track="stable"'
    assert BEFORE_ROLLOUT == "10m"
    assert before_rollout_query(metric, stable_context) == (
        f"sum by (le) (increase(mlaiops_model_request_duration_seconds_bucket{{{selector}}}[10m]))"
    )
    assert before_rollout_query(relative("error-rate-vs-stable"), stable_context) is None
    canary, stable = TrackCounts(buckets=cumulative([160, 30, 12, 8])), TrackCounts(buckets=cumulative([380, 16, 2, 2]))
    before = TrackCounts(buckets=cumulative([5000, 900, 90, 10]))  # p95 in the 100 ms bucket, p99 in 250 ms
    weighted = judge_relative(metric, canary, stable, before)
    before_counts = [5000, 900, 90, 10]
    expected = sequential_slower_p(
        [160, 30, 12, 8], [380, 16, 2, 2], bound_weights(before_counts), bound_priors(before_counts)
    )
    assert weighted.value == expected
    assert "; 75% of the weight on stable's tail before the rollout: 100 ms (p95), 250 ms (p99)" in weighted.message
    # Over the bounds both tracks export: one only the window before exports is left out...
    extra = TrackCounts(buckets=((0.01, 100.0), *before.buckets))
    assert judge_relative(metric, canary, stable, extra) == weighted
    # ... and one it lacks leaves the weights equal, as without it (said so).
    equal = judge_relative(metric, canary, stable)
    assert equal.value == sequential_slower_p([160, 30, 12, 8], [380, 16, 2, 2]) != weighted.value
    assert "; bounds weighted equally (no stable requests before the rollout)" in equal.message
    lacking = TrackCounts(buckets=cumulative([5900, 90, 10], (0.05, 0.25, math.inf)))
    assert judge_relative(metric, canary, stable, lacking) == equal
    assert judge_relative(metric, canary, stable, TrackCounts()) == equal
