"""The step of the warm-start range query: a duration Prometheus parses, for every interval and fitWindow
the API accepts, and never more points than Prometheus returns per series."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.api.common import seconds
from mlaiops.controllers.anomalyrule import MAX_HISTORY_POINTS, warm_start_step
from mlaiops.metrics.prometheus import step_param

# Prometheus's parseDuration (web/api/v1): a float of seconds, else model.ParseDuration, whose units are
# whole numbers (https://prometheus.io/docs/prometheus/latest/querying/basics/#time-durations).
PROMETHEUS_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
PROMETHEUS_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
PROMETHEUS_POINT_LIMIT = 11_000


def prometheus_accepts(step: str) -> bool:
    return step != "" and bool(PROMETHEUS_FLOAT.match(step) or PROMETHEUS_DURATION.match(step))


def prometheus_seconds(step: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", step))


durations = st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(["ms", "s", "m", "h", "d", "w"])), min_size=1, max_size=3
).map(lambda parts: "".join(f"{n}{unit}" for n, unit in parts))


@given(interval=durations, fit_window=durations)
def test_every_interval_and_fit_window_gives_a_step_prometheus_parses(interval: str, fit_window: str) -> None:
    spec = AnomalyRuleSpec.model_validate({"query": "up", "interval": interval, "fitWindow": fit_window})
    wanted = warm_start_step(spec)
    step = step_param(wanted)
    assert prometheus_accepts(step), step
    sent = prometheus_seconds(step)
    assert sent >= wanted - 1e-9  # rounding up: never more points than planned
    assert sent - wanted < 0.001 + 1e-9
    assert seconds(spec.fit_window) / sent + 1 <= PROMETHEUS_POINT_LIMIT
    assert seconds(spec.fit_window) / sent <= MAX_HISTORY_POINTS + 1e-6


@pytest.mark.parametrize(
    ("interval", "fit_window", "step"),
    [
        ("30s", "1d", "30000ms"),
        ("5s", "1d", "8640ms"),  # was "8.64s": cannot parse
        ("30s", "1w", "60480ms"),  # was "60.48s"
        ("250ms", "1h", "360ms"),
        ("1ms", "0s", "1ms"),
        ("0s", "0s", "1ms"),
        ("1m", "1d", "60000ms"),
    ],
)
def test_known_steps(interval: str, fit_window: str, step: str) -> None:
    spec = AnomalyRuleSpec.model_validate({"query": "up", "interval": interval, "fitWindow": fit_window})
    assert step_param(warm_start_step(spec)) == step


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_step_that_is_not_a_positive_number_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        step_param(bad)
