"""Each detector on synthetic series with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from mlaiops.detection.base import INVALID_SCORE, Detector
from mlaiops.detection.registry import build_detector, detector_from_dict

STEP = 60.0
STREAMING = ["zscore", "mad", "ewma", "auto"]


def noise(n: int = 400, seed: int = 0, level: float = 10.0, sd: float = 1.0) -> np.ndarray:
    return level + sd * np.random.default_rng(seed).standard_normal(n)


def times(n: int) -> np.ndarray:
    return 1_700_000_000.0 + STEP * np.arange(n)


def flags(config: dict, values: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
    detector = build_detector(config)
    return detector.run(values, times(values.size), excluded).anomalous[0]


@pytest.mark.parametrize("kind", STREAMING)
def test_spike_is_flagged_and_noise_mostly_not(kind: str) -> None:
    values = noise()
    values[250] += 15
    found = flags({"type": kind}, values)
    assert found[250]
    assert found[100:].sum() - 1 <= 3


@pytest.mark.parametrize("kind", STREAMING)
def test_level_shift_is_flagged_then_adopted(kind: str) -> None:
    values = noise(600)
    values[250:] += 12
    found = flags({"type": kind}, values)
    assert found[250]
    assert not found[450:].any(), "the baseline should accept the new level after adaptAfter points"


@pytest.mark.parametrize("kind", ["zscore", "mad", "ewma"])
def test_variance_change_is_flagged(kind: str) -> None:
    values = noise(400)
    values[250:] = 10 + 8 * np.random.default_rng(1).standard_normal(150)
    found = flags({"type": kind}, values)
    assert found[250:270].any()
    assert found[100:250].sum() <= 2


def test_trend_change_is_flagged_by_holt() -> None:
    rng = np.random.default_rng(2)
    slope = np.where(np.arange(400) < 250, 0.2, -0.2)
    values = np.cumsum(slope) + 0.05 * rng.standard_normal(400)
    found = flags({"type": "ewma", "alpha": 0.3, "beta": 0.1}, values)
    assert not found[50:250].any()
    assert found[250:270].any()


def daily(days: int, per_day: int = 96, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    n = days * per_day
    t = 1_700_006_400.0 + np.arange(n) * 86400.0 / per_day
    phase = 2 * np.pi * (t % 86400.0) / 86400.0
    return t, 50 + 20 * np.sin(phase) + np.random.default_rng(seed).standard_normal(n)


@pytest.mark.parametrize("kind", ["seasonal", "auto"])
def test_seasonal_break_is_flagged(kind: str) -> None:
    t, values = daily(6)
    broken = values.copy()
    broken[5 * 96 :] = 50 + np.random.default_rng(4).standard_normal(96)  # the daily swing stops
    normal = build_detector({"type": kind}).run(values, t).anomalous[0]
    found = build_detector({"type": kind}).run(broken, t).anomalous[0]
    assert normal[2 * 96 :].sum() <= 3
    assert found[5 * 96 :].any()


@pytest.mark.parametrize("kind", [*STREAMING, "seasonal"])
def test_direction(kind: str) -> None:
    t, base = daily(4) if kind == "seasonal" else (times(400), noise(400))
    up, down = base.copy(), base.copy()
    up[350] += 40
    down[350] -= 40
    for config_direction, series, expected in [
        ("up", up, True),
        ("down", up, False),
        ("down", down, True),
        ("up", down, False),
        ("both", down, True),
    ]:
        detector = build_detector({"type": kind, "direction": config_direction})
        assert detector.run(series, t).anomalous[0][350] == expected, (config_direction, expected)


@pytest.mark.parametrize("kind", STREAMING)
def test_min_deviation_suppresses_tiny_deviations(kind: str) -> None:
    values = noise(300, sd=0.01)
    values[250] += 0.5
    assert flags({"type": kind}, values)[250]
    assert not flags({"type": kind, "minDeviation": {"absolute": 1.0}}, values)[250]
    assert not flags({"type": kind, "minDeviation": {"relative": 0.1}}, values)[250]
    assert flags({"type": kind, "minDeviation": {"absolute": 0.3}}, values)[250]


@pytest.mark.parametrize("kind", [*STREAMING, "threshold"])
def test_data_range_marks_invalid_and_keeps_it_out_of_the_baseline(kind: str) -> None:
    values = noise(200)
    bad = values.copy()
    bad[150] = -5.0
    missing = values.copy()
    missing[150] = np.nan
    config = {"type": kind, "dataRange": [0, 100]}
    with_bad = build_detector(config).run(bad, times(200))
    with_gap = build_detector(config).run(missing, times(200))
    assert with_bad.score[0, 150] >= INVALID_SCORE
    assert with_gap.score[0, 150] == 0.0
    assert np.array_equal(with_bad.score[0, 151:], with_gap.score[0, 151:])


@pytest.mark.parametrize("kind", [*STREAMING, "seasonal"])
def test_excluded_points_never_enter_the_baseline(kind: str) -> None:
    config = {"type": kind, **({"period": 3600, "buckets": 12} if kind == "seasonal" else {})}
    values = noise(300)
    noisy = values.copy()
    noisy[150:180] += 30  # a rollout in progress
    excluded = np.zeros(300, dtype=bool)
    excluded[150:180] = True
    gap = values.copy()
    gap[150:180] = np.nan
    marked = build_detector(config).run(noisy, times(300), excluded)
    skipped = build_detector(config).run(gap, times(300))
    assert np.array_equal(marked.score[0, 180:], skipped.score[0, 180:])
    assert marked.anomalous[0, 150]  # still scored (and reported) while excluded


def test_threshold_bounds() -> None:
    detector = build_detector({"type": "threshold", "upper": 90, "lower": 10})
    scores = detector.run(np.array([50.0, 95.0, 5.0, 90.0, 10.0]), times(5))
    assert scores.anomalous[0].tolist() == [False, True, True, False, False]
    assert scores.upper[0, 0] == 90 and scores.lower[0, 0] == 10


def test_forecast_fires_before_the_bound_is_crossed() -> None:
    # disk flat at 20% for 20 minutes, then filling 1% per minute: crosses 90% at minute 90
    rng = np.random.default_rng(5)
    n = 100
    values = 20 + np.maximum(np.arange(n) - 20, 0) * 1.0 + 0.1 * rng.standard_normal(n)
    detector = build_detector({"type": "forecast", "upper": 90, "horizon": "30m"})
    found = detector.run(values, times(n)).anomalous[0]
    first = int(np.argmax(found))
    crossing = int(np.argmax(values >= 90))
    assert not found[:20].any()
    assert found.any() and first < crossing
    assert 20 <= crossing - first <= 30  # about 30 minutes ahead, once the trend has settled


def test_forecast_direction_down_watches_the_lower_bound() -> None:
    values = 100 - np.arange(100) * 1.0  # crosses 10 at minute 90
    config = {"type": "forecast", "lower": 10, "upper": 1000, "horizon": "30m", "direction": "down"}
    found = build_detector(config).run(values, times(100)).anomalous[0]
    assert found.any() and 55 <= int(np.argmax(found)) < 90
    assert not build_detector({**config, "direction": "up"}).run(values, times(100)).anomalous[0].any()


def test_isolation_forest_per_series_flags_a_spike() -> None:
    values = noise(400)
    values[330] += 12
    detector = build_detector({"type": "isolationForest", "window": 300, "refitEvery": 100})
    found = detector.run(values, times(400)).anomalous[0]
    assert found[330]
    assert found[100:].sum() <= 20  # the spike, and what the floor lets through while it is young


def test_isolation_forest_floor_quiets_a_heavy_tailed_series_and_keeps_a_spike_beyond_it() -> None:
    """The forest calls its ``contamination`` tail rare on any series; the floor lets a point page only if its
    value is further from the window mean than anything the series' normal has shown (``IFOREST_FLOOR``)."""
    values = 10 + np.random.default_rng(3).standard_t(3, 1500)
    values[1300] = 10 + 4 * np.abs(values[:1300] - 10).max()
    floored = build_detector({"type": "isolationForest"}).run(values, times(1500)).anomalous[0]
    bare = build_detector({"type": "isolationForest", "noiseFloor": {"margin": 0}}).run(values, times(1500))
    assert floored[1300] and bare.anomalous[0, 1300]
    assert np.flatnonzero(floored[500:]).tolist() == [800]  # once the floor has seen the series: the spike only
    assert bare.anomalous[0].sum() >= 20 * floored.sum()  # 649 against 7 (6 while the floor is young)


def test_isolation_forest_floor_survives_a_restart() -> None:
    values = 10 + np.random.default_rng(4).standard_t(3, 900)
    whole = build_detector({"type": "isolationForest"}).run(values, times(900)).score[0]
    first = build_detector({"type": "isolationForest"})
    head = first.run(values[:600], times(900)[:600]).score[0]
    restored = detector_from_dict(first.to_dict())
    assert restored.noise_bar[0] > 0
    tail = restored.run(values[600:], times(900)[600:]).score[0]
    assert np.allclose(np.concatenate([head, tail]), whole)


def test_isolation_forest_multivariate_flags_a_broken_relation() -> None:
    rng = np.random.default_rng(6)
    x = np.sin(np.arange(400) / 10) + 0.05 * rng.standard_normal(400)
    y = x + 0.05 * rng.standard_normal(400)
    x[350], y[350] = 1.0, -1.0  # each value is ordinary, the pair is not
    detector = build_detector({"type": "isolationForest", "multivariate": True, "window": 300}, n_series=2)
    scores = detector.run(np.stack([x, y]), times(400))
    assert scores.anomalous[:, 350].all()
    assert np.array_equal(scores.score[0], scores.score[1])


def test_bands_contain_the_expected_value() -> None:
    values = noise(200)
    for kind in STREAMING:
        scores = build_detector({"type": kind}).run(values, times(200))
        tail = slice(100, None)
        assert np.all(scores.lower[0, tail] <= scores.expected[0, tail])
        assert np.all(scores.expected[0, tail] <= scores.upper[0, tail])


def test_detector_instances_are_detectors() -> None:
    assert isinstance(build_detector({"type": "mad"}), Detector)


def test_auto_stops_alerting_on_a_recurring_daily_event() -> None:
    n = 96 * 8
    t = 1_700_006_400.0 + np.arange(n) * 900.0
    values = 10 + np.random.default_rng(0).standard_normal(n)
    daily_job = np.arange(1, 8) * 96 + 40
    values[daily_job] += 20
    found = build_detector({"type": "auto"}).run(values, t).anomalous[0]
    assert found[daily_job[0]], "the first occurrence is an anomaly"
    assert not found[daily_job[-2:]].any(), "a week later it is the series' normal"


def test_forecast_tolerates_a_repeated_timestamp() -> None:
    t = np.array([0.0, 60, 120, 120, 180, 240])
    values = np.array([10.0, 11, 12, 12.5, 13, 14])
    detector = build_detector({"type": "forecast", "upper": 100, "horizon": "30m"})
    scores = detector.run(values, t)
    assert np.isfinite(scores.score).all() and not scores.anomalous.any()
