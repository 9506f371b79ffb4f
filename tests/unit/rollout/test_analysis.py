"""Analysis metrics: templating, built-ins, and what a value, no value or an error means."""

from __future__ import annotations

import pytest

from mlaiops.api.modeldeployment import AnalysisMetric, AnalysisSpec
from mlaiops.rollout.analysis import QueryContext, judge, query_window, render_query

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
