"""``detector.sensitivity`` and ``minDeviation`` change what every detector that accepts them reports.

Each case runs the rule's detector (built from the CRD spec, as the controller does) on the same
series twice, changing only the field under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlaiops.api.anomalyrule import SENSITIVE_TYPES, AnomalyRuleSpec
from mlaiops.detection.base import Scores
from mlaiops.detection.registry import build_detector
from mlaiops.detection.rules import detector_config

STEP = 60.0


def run(detector: dict, values: np.ndarray, t: np.ndarray) -> Scores:
    spec = AnomalyRuleSpec.model_validate({"query": "x", "interval": "1m", "detector": detector})
    return build_detector(detector_config(spec)).run(values, t)


def series(kind: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """A noisy series with a known profile; seasonal gets two days of a daily swing."""
    rng = np.random.default_rng(11)
    if kind == "seasonal":
        n = 4 * 96
        t = 1_700_006_400.0 + np.arange(n) * 900.0
        values = 50 + 20 * np.sin(2 * np.pi * (t % 86400) / 86400) + rng.standard_normal(n)
        return values, t, {"season": "1d"}
    n = 600
    return 10 + rng.standard_normal(n), 1_700_000_000.0 + STEP * np.arange(n), {}


@pytest.mark.parametrize("kind", SENSITIVE_TYPES)
def test_higher_sensitivity_narrows_the_band_and_fires_more(kind: str) -> None:
    values, t, extra = series(kind)
    calm = run({"type": kind, **extra}, values, t)
    touchy = run({"type": kind, "sensitivity": 3, **extra}, values, t)
    tail = slice(values.size // 2, None)
    width = (calm.upper - calm.lower)[0, tail]
    narrower = (touchy.upper - touchy.lower)[0, tail]
    assert np.nanmean(narrower) < 0.6 * np.nanmean(width)
    assert touchy.anomalous[0, tail].sum() > calm.anomalous[0, tail].sum()


@pytest.mark.parametrize("kind", SENSITIVE_TYPES)
def test_default_sensitivity_is_one(kind: str) -> None:
    values, t, extra = series(kind)
    default = run({"type": kind, **extra}, values, t)
    explicit = run({"type": kind, "sensitivity": 1, **extra}, values, t)
    assert np.array_equal(default.score, explicit.score)


def spike() -> tuple[np.ndarray, np.ndarray]:
    values = 10 + np.random.default_rng(0).standard_normal(400)
    values[330] += 12
    return values, 1_700_000_000.0 + STEP * np.arange(400)


def test_isolation_forest_ignores_deviations_under_min_deviation() -> None:
    values, t = spike()
    detector = {"type": "isolationForest"}
    assert run(detector, values, t).anomalous[0, 330]
    assert not run({**detector, "minDeviation": {"absolute": 20}}, values, t).anomalous[0, 330]
    assert not run({**detector, "minDeviation": {"relative": 2.0}}, values, t).anomalous[0, 330]
    assert run({**detector, "minDeviation": {"absolute": 5}}, values, t).anomalous[0, 330]


def test_isolation_forest_min_deviation_quiets_the_ordinary_noise() -> None:
    values, t = spike()
    plain = run({"type": "isolationForest"}, values, t).anomalous[0, 100:]
    floored = run({"type": "isolationForest", "minDeviation": {"absolute": 3}}, values, t).anomalous[0, 100:]
    assert floored.sum() < plain.sum()
    assert floored[230]  # the spike (index 330) is still far outside the floor


def test_threshold_min_deviation_is_the_margin_past_the_bound() -> None:
    values = np.array([50.0, 91.0, 95.0, 96.0])
    t = 1_700_000_000.0 + STEP * np.arange(4)
    assert run({"type": "threshold", "upper": 90}, values, t).anomalous[0].tolist() == [False, True, True, True]
    margin = {"type": "threshold", "upper": 90, "minDeviation": {"absolute": 5}}
    assert run(margin, values, t).anomalous[0].tolist() == [False, False, False, True]


def test_forecast_min_deviation_is_the_least_predicted_change() -> None:
    values = 20 + np.arange(100) * 0.2  # reaches 40, crossing 35 at minute 75
    t = 1_700_000_000.0 + STEP * np.arange(100)
    detector = {"type": "forecast", "upper": 35, "horizon": "30m"}
    assert run(detector, values, t).anomalous[0, :70].any()  # 6 predicted over the horizon: fires early
    floored = run({**detector, "minDeviation": {"absolute": 10}}, values, t).anomalous[0]
    assert not floored[:70].any()  # a change under 10 in 30 minutes is not worth a page
    assert floored[80:].all()  # past the bound it fires anyway
