"""The per-step shortcuts give, bit for bit, what the plain numpy they replaced gave.

A one-series step is almost all numpy's per-call overhead, so a few helpers stand in for slower
calls: ``nan_to_num`` for ``np.nan_to_num``, a once-widened band in ``deviation_from_band``, and
``auto``'s nearest-bucket search without ``argmin``. NaN, infinities, signed zeros and overflow are
where such a replacement could drift, so those are what is fed here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlaiops.detection.auto import AutoDetector
from mlaiops.detection.base import deviation_from_band, nan_to_num
from mlaiops.detection.config import AutoConfig, MinDeviation, ZScoreConfig

pytestmark = pytest.mark.unit

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, 1e-320, 1e308, -1e308, 0.3]
values = st.lists(st.one_of(st.floats(), st.sampled_from(SPECIAL)), min_size=1, max_size=40)


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


@given(values)
def test_nan_to_num_is_numpys_bit_for_bit(data: list[float]) -> None:
    array = np.asarray(data)
    assert bits(nan_to_num(array)) == bits(np.nan_to_num(array))


def reference_band(x: np.ndarray, expected: np.ndarray, half: np.ndarray, md: MinDeviation) -> tuple[np.ndarray, ...]:
    """``deviation_from_band`` as it was written before the shortcuts."""
    min_dev = np.maximum(md.absolute, md.relative * np.abs(expected))
    floor = 1e-9 * np.maximum(1.0, np.abs(np.nan_to_num(expected)))
    half_low = np.maximum(np.maximum(half, min_dev), floor)
    half_high = np.maximum(np.maximum(half, min_dev), floor)
    dev = x - expected
    up = np.where(dev > 0, dev / half_high, 0.0)
    down = np.where(dev < 0, -dev / half_low, 0.0)
    return up, down, expected - half_low, expected + half_high


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(SPECIAL), st.sampled_from(SPECIAL), st.sampled_from(SPECIAL)), min_size=1),
    st.sampled_from([0.0, 0.5, 1e308]),
    st.sampled_from([0.0, 0.1, 2.0]),
)
def test_the_band_is_widened_as_before(
    rows: list[tuple[float, float, float]], absolute: float, relative: float
) -> None:
    x, expected, half = (np.asarray(column) for column in zip(*rows, strict=True))
    config = ZScoreConfig(min_deviation=MinDeviation(absolute=absolute, relative=relative))
    with np.errstate(all="ignore"):
        got = deviation_from_band(x, expected, half, half, config)
        want = reference_band(x, expected, half, config.min_deviation)
    assert [bits(a) for a in got] == [bits(a) for a in want]


def reference_season_expected(detector: AutoDetector, b: int, x: np.ndarray) -> np.ndarray:
    """``AutoDetector._season_expected`` as it was written, with ``argmin`` over (n_series, 3)."""
    nb = detector.config.buckets
    cols = [(b - 1) % nb, b, (b + 1) % nb]
    means = detector.profile[:, cols]
    dist = np.where(detector.visits[:, cols] > 0, np.abs(means - np.nan_to_num(x)[:, None]), np.inf)
    chosen = means[np.arange(means.shape[0]), np.argmin(dist, axis=1)]
    return np.where(np.isfinite(dist.min(axis=1)), chosen, detector.profile[:, b])


@pytest.mark.parametrize("buckets", [2, 3, 5])
def test_the_nearest_bucket_is_argmins_choice_ties_nan_and_all(buckets: int) -> None:
    rng = np.random.default_rng(buckets)
    n = 400
    detector = AutoDetector(AutoConfig(buckets=buckets), n_series=n)
    detector.profile = rng.choice([0.0, -0.0, 1.0, 2.0, 0.5, np.nan, np.inf, -np.inf, 1e308], size=(n, buckets))
    detector.visits = rng.integers(0, 2, size=(n, buckets))
    x = rng.choice([0.5, 1.0, 1.5, 0.0, -0.0, np.nan, np.inf, -np.inf], size=n)
    with np.errstate(all="ignore"):
        for b in range(buckets):
            assert bits(detector._season_expected(b, x)) == bits(reference_season_expected(detector, b, x))
