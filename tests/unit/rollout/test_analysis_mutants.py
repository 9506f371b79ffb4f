"""Analysis outcomes spelled out whole: metric name, outcome, value and sentence, and the minimum's boundary.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests checked outcomes but not the
name, value and message each outcome carries into status, nor the ``{{name}}`` placeholder.
"""

from __future__ import annotations

from mlaiops.api.modeldeployment import AnalysisSpec
from mlaiops.rollout.analysis import MetricOutcome, judge, query_window, render_query
from tests.unit.rollout.test_analysis import CONTEXT, metric


def test_every_outcome_carries_the_metric_name_value_and_sentence() -> None:
    """Error, no data, below, above and within range each come back whole."""
    bounded = metric(query="q", thresholdRange={"min": 0.1, "max": 0.25}, onNoData="pass")
    assert judge(bounded, None, "timeout") == MetricOutcome("latency", "Error", None, "timeout")
    assert judge(bounded, None) == MetricOutcome("latency", "Successful", None, "no data (onNoData: pass)")
    assert judge(bounded, 0.05) == MetricOutcome("latency", "Failed", 0.05, "0.05 is below the minimum 0.1")
    assert judge(bounded, 0.3) == MetricOutcome("latency", "Failed", 0.3, "0.3 is above the maximum 0.25")
    assert judge(bounded, 0.2) == MetricOutcome("latency", "Successful", 0.2, "0.2 is within range")


def test_a_value_equal_to_the_minimum_passes() -> None:
    """thresholdRange.min is inclusive."""
    assert judge(metric(query="q", thresholdRange={"min": 0.99}), 0.99).outcome == "Successful"


def test_the_name_placeholder_is_the_model_deployment() -> None:
    """``{{name}}`` is filled with the ModelDeployment's name."""
    assert render_query(metric(query='x{deployment="{{name}}"}'), CONTEXT) == 'x{deployment="fraud"}'


def test_the_query_window_is_the_interval_from_four_seconds_up() -> None:
    """An interval of 4 s or more is used (as the API normalises it: 4500ms is 4s500ms); a shorter one becomes 4s."""
    for interval, window in (("4500ms", "4s500ms"), ("10s", "10s"), ("3999ms", "4s")):
        spec = AnalysisSpec.model_validate(
            {"interval": interval, "metrics": [{"name": "request-duration", "thresholdRange": {"max": 1}}]}
        )
        assert query_window(spec, spec.metrics[0]) == window
