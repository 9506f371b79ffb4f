"""Warm start says whether it worked: Loaded, NoHistory or QueryFailed, and the rule's WarmStart condition."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pytest

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.controllers.anomalyrule import warm_start
from mlaiops.detection.rule_status import WarmStart, condition, with_warm_start
from mlaiops.detection.rules import RuleEvaluator
from mlaiops.metrics.prometheus import PrometheusProvider, _reason
from mlaiops.metrics.provider import ProviderError, Series

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LOG = logging.getLogger("test")


class History:
    """Answers range queries with fixed series, or fails as Prometheus does; records the steps asked."""

    def __init__(self, series: list[Series] | None = None, error: str | None = None) -> None:
        self.series, self.error, self.steps = series or [], error, []

    def range_sync(self, query: str, start: datetime, end: datetime, step_seconds: float) -> list[Series]:
        self.steps.append(step_seconds)
        if self.error:
            raise ProviderError(self.error)
        return self.series


def spec(**fields: Any) -> AnomalyRuleSpec:
    return AnomalyRuleSpec.model_validate({"query": "up", "detector": {"type": "zscore"}, **fields})


def run(history: History, rule: AnomalyRuleSpec) -> WarmStart:
    evaluator = RuleEvaluator("ns", "rule", rule)
    return warm_start(cast(PrometheusProvider, history), evaluator, rule, NOW, LOG)


def test_history_is_loaded() -> None:
    times = np.arange(100, dtype=float) * 30 + NOW.timestamp() - 3000
    outcome = run(History([Series({"pod": "a"}, times, np.ones(100))]), spec())
    assert outcome.loaded and outcome.reason == "Loaded"
    assert "100 points of 1 series over 1d" in outcome.message


def test_an_empty_history_is_no_history() -> None:
    outcome = run(History([]), spec())
    assert not outcome.loaded and outcome.reason == "NoHistory"


def test_a_failed_range_query_is_query_failed_with_prometheus_reason() -> None:
    outcome = run(History(error='bad_data: invalid parameter "step"'), spec(fitWindow="1w"))
    assert (outcome.reason, outcome.loaded) == ("QueryFailed", False)
    assert 'invalid parameter "step"' in outcome.message and "1w" in outcome.message


def test_the_condition_replaces_the_old_one_and_keeps_its_transition_time() -> None:
    old = [
        condition("Ready", True, "Evaluating", "", NOW, 1),
        condition("WarmStart", False, "QueryFailed", "x", NOW, 1),
    ]
    later = NOW + timedelta(minutes=1)
    same = with_warm_start([old[0]], WarmStart("QueryFailed", "again"), old, later, 1)
    assert [c.type for c in same] == ["Ready", "WarmStart"]
    assert same[1].last_transition_time == NOW and same[1].message == "again"
    loaded = with_warm_start([old[0]], WarmStart("Loaded", "learned"), old, later, 1)
    assert (loaded[1].status, loaded[1].reason, loaded[1].last_transition_time) == ("True", "Loaded", later)
    assert with_warm_start(old, None, old, later, 1) == [old[0]]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            'HTTP Status Code 400 (b\'{"status":"error","errorType":"bad_data",'
            '"error":"1:5: parse error: unexpected \\\\"}\\\\""}\')',
            'bad_data: 1:5: parse error: unexpected "}" (HTTP 400)',
        ),
        ("Connection refused", "Connection refused"),
    ],
)
def test_prometheus_errors_are_its_words_not_bytes(raw: str, reason: str) -> None:
    assert _reason(Exception(raw)) == reason
