"""The Prometheus provider against a real Prometheus serving fixed, known series.

The series are written as TSDB blocks with promtool, so every value asked for is known exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from mlaiops_sandbox.runtime.prometheus import Prometheus

from mlaiops.metrics.prometheus import PrometheusProvider, single_value
from mlaiops.metrics.provider import ProviderError
from tests.integration.metrics.tsdb import prometheus_serving

pytestmark = pytest.mark.integration

NOW = int(time.time()) // 60 * 60
START = NOW - 1800  # half an hour of data, one sample a minute


def _openmetrics() -> str:
    lines = ["# TYPE model_latency_seconds gauge"]
    for track, base in (("stable", 0.1), ("canary", 0.3)):
        for minute in range(31):
            lines.append(f'model_latency_seconds{{track="{track}"}} {base + minute / 1000:.3f} {START + 60 * minute}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with prometheus_serving(tmp_path_factory.mktemp("prometheus"), _openmetrics()) as server:
        yield server


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_instant_query_returns_labelled_samples(prometheus: Prometheus) -> None:
    provider = PrometheusProvider(prometheus.url)
    samples = asyncio.run(provider.instant('model_latency_seconds{track="canary"}', at(START + 600)))
    assert [(s.labels, s.value) for s in samples] == [
        ({"__name__": "model_latency_seconds", "track": "canary"}, pytest.approx(0.31))
    ]
    by_track = asyncio.run(provider.instant("max by (track) (model_latency_seconds)", at(START + 600)))
    assert sorted((s.labels["track"], s.value) for s in by_track) == [("canary", 0.31), ("stable", 0.11)]


def test_scalar_results_and_single_value(prometheus: Prometheus) -> None:
    provider = PrometheusProvider(prometheus.url)
    assert single_value(asyncio.run(provider.instant("scalar(vector(42))"))) == 42
    assert single_value(asyncio.run(provider.instant('model_latency_seconds{track="none"}'))) is None
    with pytest.raises(ProviderError, match="returned 2 series"):
        single_value(asyncio.run(provider.instant("model_latency_seconds", at(START + 60))))


def test_range_query_returns_ordered_points(prometheus: Prometheus) -> None:
    provider = PrometheusProvider(prometheus.url)
    (series,) = asyncio.run(provider.range('model_latency_seconds{track="stable"}', at(START), at(START + 300), 60))
    assert series.timestamps.tolist() == [START + 60 * i for i in range(6)]
    assert series.values.tolist() == pytest.approx([0.1 + i / 1000 for i in range(6)])


def test_bad_query_is_a_provider_error_not_no_data(prometheus: Prometheus) -> None:
    provider = PrometheusProvider(prometheus.url)
    with pytest.raises(ProviderError, match="parse error"):
        asyncio.run(provider.instant("sum(rate(x[5m])"))
    assert asyncio.run(provider.is_online())


def test_unreachable_prometheus_is_a_provider_error(tmp_path: Path) -> None:
    down = Prometheus(tmp_path)  # configured, never started: nothing listens on its port
    provider = PrometheusProvider(down.url, timeout=2)
    with pytest.raises(ProviderError):
        asyncio.run(provider.instant("up"))
    assert not asyncio.run(provider.is_online())


@pytest.mark.parametrize(("step", "window"), [(8.64, 86400), (60.48, 7 * 86400), (0.36, 3600)])
def test_fractional_steps_are_accepted(prometheus: Prometheus, step: float, window: int) -> None:
    """Steps with a fraction of a second (fitWindow / 10,000 points) once came back "cannot parse"."""
    provider = PrometheusProvider(prometheus.url)
    (series,) = asyncio.run(provider.range('model_latency_seconds{track="stable"}', at(NOW - window), at(NOW), step))
    assert len(series.values) > 0
    assert np.allclose(np.diff(series.timestamps), step, atol=0.001)


def test_a_rule_warm_starts_from_a_day_of_history_at_a_short_interval(prometheus: Prometheus) -> None:
    import logging

    from mlaiops.api.anomalyrule import AnomalyRuleSpec
    from mlaiops.controllers.anomalyrule import warm_start
    from mlaiops.detection.rules import RuleEvaluator

    spec = AnomalyRuleSpec.model_validate(
        {"query": "model_latency_seconds", "interval": "5s", "fitWindow": "1d", "detector": {"type": "zscore"}}
    )
    outcome = warm_start(
        PrometheusProvider(prometheus.url), RuleEvaluator("ns", "r", spec), spec, at(NOW), logging.getLogger("t")
    )
    assert outcome.reason == "Loaded", outcome.message
    assert "of 2 series over 1d" in outcome.message
