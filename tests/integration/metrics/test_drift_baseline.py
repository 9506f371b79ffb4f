"""A drift rule's baseline window against a real Prometheus: the rule's own queries, ``offset`` included,
on four hours of bin counters written as TSDB blocks (promtool), so every count asked for is known.

The traffic of the last hour has its mass moved to the tails; two hours earlier it looked like the
training reference, and so did the hour just before the last one. Scored against two hours earlier the
last hour drifts by exactly the PSI of those two histograms; the hour before it, not at all. (Hours,
not a day as a user would set: the sandbox's Prometheus keeps one day and drops whole blocks older than
that, so a day-old window sits on the retention's edge.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
from mlaiops_sandbox.runtime.prometheus import Prometheus

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.controllers.anomalyrule import drift_outcome
from mlaiops.detection import drift
from mlaiops.metrics.prometheus import PrometheusProvider
from tests.integration.metrics.tsdb import prometheus_serving

pytestmark = pytest.mark.integration

NOW = int(time.time()) // 60 * 60
START = NOW - 4 * 3600  # four hours of counters, one sample a minute
SHIFT = NOW - 3600  # the last hour's traffic differs
USUAL = np.array([10, 10, 10, 10, 10, 10, 10, 10, 10, 10])  # rows per minute per bin, as in training
SPREAD = np.array([18, 8, 4, 2, 1, 1, 2, 4, 8, 18])  # mass moved to the tails
LABELS = 'model="fraud",track="stable",version="v1",feature="merchant_risk"'


def _openmetrics() -> str:
    lines = ["# TYPE mlaiops_model_feature_bin counter"]
    totals = np.zeros(10)
    for at in range(START, NOW + 60, 60):
        totals += SPREAD if at > SHIFT else USUAL
        lines += [f'mlaiops_model_feature_bin_total{{{LABELS},bin="{i}"}} {totals[i]:.0f} {at}' for i in range(10)]
    lines.append("# TYPE mlaiops_model_feature_reference_bin gauge")
    for at in range(NOW - 7200, NOW + 60, 60):  # the served reference, as a server exports it
        lines += [
            f'mlaiops_model_feature_reference_bin{{{LABELS},kind="numeric",bin="{i}"}} 100 {at}' for i in range(10)
        ]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with prometheus_serving(tmp_path_factory.mktemp("prometheus"), _openmetrics()) as server:
        yield server


def scores(prometheus: Prometheus, drift_section: dict[str, object], now: int) -> dict[str, float]:
    spec = AnomalyRuleSpec.model_validate({"drift": {"model": "fraud", "minSamples": 100, **drift_section}})
    outcome = drift_outcome(PrometheusProvider(prometheus.url), spec, datetime.fromtimestamp(now, UTC))
    return {labels["feature"]: value for labels, value in outcome.samples}


def test_the_last_hour_drifts_from_two_hours_earlier_by_the_psi_of_the_two(prometheus: Prometheus) -> None:
    got = scores(prometheus, {"window": "50m", "baseline": {"offset": "2h"}}, NOW)
    # increase() extrapolates both windows alike, so the proportions (all PSI reads) are exact.
    assert got["merchant_risk"] == pytest.approx(drift.psi(USUAL, SPREAD), rel=1e-6)
    assert got["merchant_risk"] > 0.25


def test_an_hour_like_its_baseline_does_not_drift(prometheus: Prometheus) -> None:
    assert scores(prometheus, {"window": "50m", "baseline": {"offset": "2h"}}, SHIFT - 300) == {
        "merchant_risk": pytest.approx(0.0, abs=1e-9)
    }


def test_without_a_baseline_the_rule_scores_against_the_training_reference(prometheus: Prometheus) -> None:
    got = scores(prometheus, {"window": "50m"}, NOW)
    assert got["merchant_risk"] == pytest.approx(drift.psi(np.full(10, 100.0), SPREAD), rel=1e-6)


def test_a_baseline_before_the_data_began_leaves_the_feature_unscored(prometheus: Prometheus) -> None:
    spec = AnomalyRuleSpec.model_validate(
        {"drift": {"model": "fraud", "minSamples": 100, "window": "50m", "baseline": {"offset": "5h"}}}
    )
    outcome = drift_outcome(PrometheusProvider(prometheus.url), spec, datetime.fromtimestamp(NOW, UTC))
    assert outcome.samples == []
    assert "rows in the baseline window (50m ending 5h ago): merchant_risk (stable/v1): 0 rows" in outcome.message(
        spec.drift
    )
