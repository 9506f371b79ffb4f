"""The noise floor every banded detector can have (``noiseFloor``): a band never narrower than ``margin``
times the largest residual of the accepted history, decaying with a half-life of ``memory`` points; a
flagged point lifts that bar ``learn`` of the way to its residual. It is why the single-purpose
detectors stop paging on every wiggle of a heavy-tailed series (the NAB table in the README)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlaiops.detection.base import Detector
from mlaiops.detection.config import NoiseFloor, parse_detector_config
from mlaiops.detection.registry import build_detector, detector_from_dict

pytestmark = pytest.mark.unit

BANDED = ("zscore", "mad", "ewma", "seasonal")


# seasonal learns per bucket of a period before it scores: a 20-minute period of 4 buckets (tests step 1 min).
SHORT_SEASON = {"period": 1200, "buckets": 4}


def steps(config: dict, values: list[float]) -> tuple[list, Detector]:
    detector = build_detector({**config, **(SHORT_SEASON if config["type"] == "seasonal" else {})})
    return [detector.update(60.0 * i, [v]) for i, v in enumerate(values)], detector


def quiet_then(value: float, n: int = 200) -> list[float]:
    """A series that wiggles by exactly +-1 around 10 (residuals about 1), then ``value``."""
    return [10.0 + (1.0 if i % 2 else -1.0) for i in range(n)] + [value]


@pytest.mark.parametrize("kind", BANDED)
def test_a_point_within_margin_of_the_largest_residual_seen_does_not_fire_beyond_it_does(kind: str) -> None:
    quiet = quiet_then(10.0)[:-1]
    done, _ = steps({"type": kind, "noiseFloor": {"margin": 0}}, quiet)
    expected, half = done[-1].expected[0], done[-1].upper[0] - done[-1].expected[0]  # the detector's own band
    _, measured = steps({"type": kind, "noiseFloor": {"margin": 1.0, "memory": 100000}}, quiet)
    bar = float(measured.noise_bar[0])
    assert 0.8 < bar < 2.2  # the wiggle's residuals: 1 around a mean of 10, 2 around a median of 9 or 11
    floor = {"margin": 2 * half / bar, "memory": 100000}  # a floor twice the detector's own band

    def last_score(config: dict, value: float) -> float:
        return float(steps(config, [*quiet, value])[0][-1].score[0])

    inside, outside = expected + 1.5 * half, expected + 2.5 * half
    assert last_score({"type": kind, "noiseFloor": {"margin": 0}}, inside) > 1.0  # the bare band fires
    assert last_score({"type": kind, "noiseFloor": floor}, inside) == pytest.approx(0.75, rel=0.05)
    assert last_score({"type": kind, "noiseFloor": floor}, outside) == pytest.approx(1.25, rel=0.05)


@pytest.mark.parametrize("kind", BANDED)
def test_the_band_shows_the_floor(kind: str) -> None:
    done, detector = steps({"type": kind, "noiseFloor": {"margin": 3.0, "memory": 100000}}, quiet_then(10.0))
    last = done[-1]
    bar = float(detector.noise_bar[0])
    assert 0.8 < bar < 2.2
    assert last.upper[0] - last.expected[0] >= 3.0 * bar - 1e-9
    assert last.expected[0] - last.lower[0] >= 3.0 * bar - 1e-9


def test_the_bar_halves_every_memory_points_and_a_flagged_point_lifts_it_learn_of_the_way() -> None:
    config = {"type": "zscore", "noiseFloor": {"margin": 1.0, "memory": 10, "learn": 0.25}}
    detector = build_detector(config)
    for i in range(50):
        detector.update(60.0 * i, [10.0 + (1.0 if i % 2 else -1.0)])
    bar = float(detector.noise_bar[0])
    assert 0.9 < bar <= 1.1
    step = detector.update(3000.0, [100.0])  # far out: flagged
    assert step.score[0] > 1.0
    decayed = bar * 0.5 ** (1 / 10)
    residual = abs(100.0 - float(step.expected[0]))
    assert float(detector.noise_bar[0]) == pytest.approx(decayed + 0.25 * (residual - decayed))
    missing = float(detector.noise_bar[0])
    detector.update(3060.0, [float("nan")])  # no value: the bar only decays
    assert float(detector.noise_bar[0]) == pytest.approx(missing * 0.5 ** (1 / 10))


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(BANDED),
    seed=st.integers(0, 10_000),
    margin=st.floats(0.1, 5.0),
)
def test_a_floor_only_ever_lowers_a_score(kind: str, seed: int, margin: float) -> None:
    """Point by point on the same history (both fed the same accepted points), the floored score is at
    most the bare one; so a floor can silence a firing, never start one."""
    rng = np.random.default_rng(seed)
    values = list(10 + rng.standard_t(2, 150))
    bare = build_detector({"type": kind, "noiseFloor": {"margin": 0}})
    floored = build_detector({"type": kind, "noiseFloor": {"margin": margin}})
    for i, v in enumerate(values):
        dev_bare = bare._deviation(60.0 * i, np.array([v]))
        floored_dev = floored._floored(np.array([v]), dev_bare)
        assert floored_dev.up[0] <= dev_bare.up[0] + 1e-12 and floored_dev.down[0] <= dev_bare.down[0] + 1e-12
        floored.noise_bar = np.array([abs(rng.standard_normal())])
        bare.update(60.0 * i, [v])


def test_the_bar_survives_a_restart_and_an_old_snapshot_starts_without_one() -> None:
    _, detector = steps({"type": "mad", "noiseFloor": {"margin": 2.0}}, quiet_then(10.0))
    payload = detector.to_dict()
    restored = detector_from_dict(payload)
    assert restored.noise_bar == pytest.approx(detector.noise_bar)
    del payload["state"]["noise_bar"]  # saved before the floor existed
    assert detector_from_dict(payload).noise_bar == pytest.approx([0.0])


def test_the_single_purpose_detectors_ship_a_floor_and_the_others_none() -> None:
    for kind in BANDED:
        assert parse_detector_config({"type": kind}).noise_floor.margin > 0, kind
    for kind in ("zscore", "mad", "ewma"):  # the folds' choice (README): repeats learned, a band of 2 sigma
        shipped = parse_detector_config({"type": kind})
        assert (shipped.noise_floor.repeat, shipped.threshold) == (2.0, 2.0), kind
    assert parse_detector_config({"type": "seasonal"}).noise_floor.repeat == 0
    assert parse_detector_config({"type": "isolationForest"}).noise_floor.margin > 0
    assert parse_detector_config({"type": "isolationForest", "multivariate": True}).noise_floor == NoiseFloor()
    for kind in ("auto", "threshold", "forecast"):
        assert (
            parse_detector_config(
                {"type": kind, **({"upper": 1} if kind in ("threshold", "forecast") else {})}
            ).noise_floor
            == NoiseFloor()
        ), kind
    with pytest.raises(ValueError, match="margin"):
        parse_detector_config({"type": "zscore", "noiseFloor": {"margin": -1}})
    with pytest.raises(ValueError, match="noiseFloor: applies per series"):
        parse_detector_config({"type": "isolationForest", "multivariate": True, "noiseFloor": {"margin": 1.1}})
    with pytest.raises(ValueError, match="noiseFloor: applies per series"):  # accepted, it would do nothing
        parse_detector_config({"type": "isolationForest", "multivariate": True, "noiseFloor": {"memory": 9}})
    off = {"type": "isolationForest", "multivariate": True, "noiseFloor": {"margin": 0}}
    assert parse_detector_config(off).noise_floor == NoiseFloor()


def recurring_spikes(spikes: int, every: int = 50) -> list[float]:
    """The +-1 wiggle around 10, then a spike to 30 every ``every`` points (a daily job, say)."""
    values = quiet_then(10.0)[:-1]
    for _ in range(spikes):
        values += [10.0 + (1.0 if i % 2 else -1.0) for i in range(every - 1)] + [30.0]
    return values


@pytest.mark.parametrize("kind", ("zscore", "mad", "ewma"))
def test_a_recurring_spike_pages_twice_with_repeat_and_more_often_without(kind: str) -> None:
    """Without ``repeat`` a flagged spike lifts the bar only ``learn`` of the way each time, so the same
    spike pages again and again; with it, the second spike (a repeat of the first) lifts the bar in full."""
    floor = {"margin": 1.1, "memory": 100000}
    values = recurring_spikes(8)

    def pages(config: dict) -> int:
        done, _ = steps({"type": kind, "threshold": 2, "noiseFloor": config}, values)
        return sum(int(s.score[0] > 1.0) for s in done[200:])

    assert pages({**floor, "repeat": 2.0}) == 2
    assert pages(floor) >= 4


def test_a_spike_far_bigger_than_the_flagged_ones_is_no_repeat() -> None:
    """Only a residual within ``repeat`` times the largest flagged one is learned in full."""
    detector = build_detector({"type": "zscore", "noiseFloor": {"margin": 1.1, "memory": 100000, "repeat": 2.0}})
    for i, v in enumerate(recurring_spikes(1)):
        detector.update(60.0 * i, [v])
    flagged = float(detector.flagged_bar[0])
    assert flagged == pytest.approx(20.0, abs=1.5)
    bar = float(detector.noise_bar[0])
    step = detector.update(60.0 * 400, [10.0 + 5 * flagged])  # five times the first spike: a new anomaly
    assert step.score[0] > 1.0
    residual = abs(10.0 + 5 * flagged - float(step.expected[0]))
    assert float(detector.noise_bar[0]) == pytest.approx(bar + 0.5 * (residual - bar))
    assert float(detector.flagged_bar[0]) == pytest.approx(residual)


def test_repeat_off_keeps_no_flagged_bar_and_a_restored_detector_keeps_it() -> None:
    _, off = steps({"type": "zscore", "noiseFloor": {"margin": 1.1}}, recurring_spikes(2))
    assert float(off.flagged_bar[0]) == 0.0
    _, on = steps({"type": "zscore", "noiseFloor": {"margin": 1.1, "repeat": 2.0}}, recurring_spikes(2))
    assert float(on.flagged_bar[0]) > 0
    payload = on.to_dict()
    assert detector_from_dict(payload).flagged_bar == pytest.approx(on.flagged_bar)
    del payload["state"]["flagged_bar"]  # saved before repeats existed
    assert detector_from_dict(payload).flagged_bar == pytest.approx([0.0])
