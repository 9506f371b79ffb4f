"""`auto`'s channels, each on a synthetic series that shows it, and streaming (no look-ahead).

Each test checks that the anomaly fires, that the channel ``mlaiops detect --explain`` would name is
the one built for it, and that the same series without the anomaly stays quiet after warm-up.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlaiops.detection.auto import AutoDetector
from mlaiops.detection.config import AutoConfig

pytestmark = pytest.mark.unit

STEP = 60.0  # 1 min: the non-seasonal series below stay within one day (no profile yet)
DAY_STEP, DAY = 300.0, 288  # 5 min: 288 points a day, for the daily pattern
ONSET = 450  # past the likelihood warm-up: before it only clear crossings (>= MARGINAL) fire


def stream(values: np.ndarray, step: float = STEP) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Scores and per-channel scores, one point at a time."""
    detector = AutoDetector(AutoConfig(), 1)
    scores, channels = [], []
    for i, value in enumerate(values):
        scores.append(float(detector.update(step * i, [value]).score[0]))
        channels.append({name: float(s[0]) for name, s in detector.channel_scores().items()})
    return np.asarray(scores), channels


def noise(n: int = 560, seed: int = 0) -> np.ndarray:
    return 10 + np.random.default_rng(seed).standard_normal(n)


def first_firing(scores: np.ndarray, start: int) -> int:
    fired = np.flatnonzero(scores[start:] > 1.0)
    assert fired.size, "the anomaly never fired"
    return start + int(fired[0])


def loudest(channels: dict[str, float]) -> str:
    return max(channels, key=lambda name: channels[name])


def test_a_quiet_series_does_not_fire_after_warm_up() -> None:
    scores, _ = stream(noise())
    assert not (scores[ONSET:] > 1.0).any()


def test_spike_fires_on_the_level_channel() -> None:
    x = noise()
    x[ONSET] += 8.0
    scores, channels = stream(x)
    assert not (scores[:ONSET] > 1.0).any()
    assert scores[ONSET] > 1.0
    assert loudest(channels[ONSET]) == "level"


def test_plateau_too_small_for_any_single_point_fires_on_the_shift_channel() -> None:
    x = noise()
    x[ONSET:] += 2.5  # under the largest residual the noise itself has shown
    scores, channels = stream(x)
    at = first_firing(scores, ONSET)
    assert at < ONSET + 10
    assert channels[at]["level"] < 1.0
    assert loudest(channels[at]) == "shift"


def test_slow_ramp_fires_on_the_shift_channel() -> None:
    x = noise()
    x[ONSET:] += 0.05 * np.arange(x.size - ONSET)  # 0.05 sigma a point: no jump anywhere
    scores, channels = stream(x)
    at = first_firing(scores, ONSET)
    assert at < ONSET + 40  # within a 2-sigma rise
    assert loudest(channels[at]) == "shift"


def test_variance_burst_fires_inside_the_burst() -> None:
    x = noise()
    x[ONSET : ONSET + 40] = 10 + 3.0 * np.random.default_rng(1).standard_normal(40)
    scores, channels = stream(x)
    at = first_firing(scores, ONSET)
    assert at < ONSET + 40
    inside = [i for i in range(ONSET, ONSET + 40) if scores[i] > 1.0]
    assert "level" in {loudest(channels[i]) for i in inside}, "single wide residuals: the level channel"


def test_a_daily_peak_that_does_not_come_fires_on_the_season_channel() -> None:
    t = np.arange(6 * DAY)
    x = 10 + 0.3 * np.random.default_rng(7).standard_normal(t.size)
    peak = (t % DAY >= 100) & (t % DAY < 112)
    x[peak] += 8.0
    missed = peak & (t // DAY == 5)
    x[missed] -= 8.0
    scores, channels = stream(x, DAY_STEP)
    start = int(np.flatnonzero(missed)[0])
    assert not (scores[2 * DAY : start] > 1.0).any(), "a peak already seen every day must not page"
    at = first_firing(scores, start)
    assert at < start + 12
    assert loudest(channels[at]) == "season"


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan"))), min_size=70, max_size=220),
    cut=st.integers(1, 219),
)
def test_truncating_the_future_never_changes_past_outputs(values: list[float], cut: int) -> None:
    x = np.asarray(values)
    cut = min(cut, x.size)
    t = STEP * np.arange(x.size)
    full = AutoDetector(AutoConfig(), 1).run(x, t)
    past = AutoDetector(AutoConfig(), 1).run(x[:cut], t[:cut])
    for name in ("score", "expected", "lower", "upper"):
        np.testing.assert_array_equal(getattr(past, name)[0], getattr(full, name)[0][:cut])
