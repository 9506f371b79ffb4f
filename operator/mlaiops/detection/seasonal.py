"""Seasonal profiles (daily, weekly) learned online, one bucket per slice of the period."""

from __future__ import annotations

import numpy as np

from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray, deviation_from_band
from mlaiops.detection.config import SeasonalConfig

_MEAN_AD_TO_SIGMA = 1.2533
_SHRINK = 3.0  # visits of a bucket before its own spread outweighs the series-wide spread


class SeasonalDetector(Detector):
    """Expected value = the bucket's EW mean + an EW offset that follows slow level drift.

    The band is threshold * sigma where sigma blends the bucket's EW absolute residual with the
    series-wide one (shrinkage), so rarely visited buckets do not get absurdly tight bands.
    """

    type = "seasonal"
    config_model = SeasonalConfig
    config: SeasonalConfig
    _state_fields = ("mean", "spread", "visits", "offset", "global_spread", "first_t")

    def _init_state(self, n: int) -> None:
        b = self.config.buckets
        self.mean = np.zeros((n, b))
        self.spread = np.zeros((n, b))
        self.visits = np.zeros((n, b), dtype=np.int64)
        self.offset = np.zeros(n)
        self.global_spread = np.zeros(n)
        self.first_t = np.full(n, np.nan)

    def _bucket(self, t: float) -> int:
        period = self.config.period
        return int((t % period) / period * self.config.buckets) % self.config.buckets

    def _expected(self, b: int) -> tuple[FloatArray, FloatArray]:
        visits = self.visits[:, b]
        expected = np.where(visits > 0, self.mean[:, b] + self.offset, np.nan)
        sigma = (visits * self.spread[:, b] + _SHRINK * self.global_spread) / (visits + _SHRINK)
        return expected, _MEAN_AD_TO_SIGMA * sigma

    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        b = self._bucket(t)
        expected, sigma = self._expected(b)
        half = self.config.threshold * sigma
        up, down, lower, upper = deviation_from_band(x, expected, half, half, self.config)
        history = t - self.first_t
        ready = (history >= self.config.min_cycles * self.config.period) & (self.visits[:, b] >= 2)
        return Deviation(up, down, expected, lower, upper, ready)

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        rows = mask.nonzero()[0]
        if rows.size == 0:
            return
        b = self._bucket(t)
        first_t = self.first_t[rows]
        self.first_t[rows] = np.where(np.isnan(first_t), t, first_t)
        # the learning rows' state, read once (fancy indexing costs more than the arithmetic on one series)
        xs, offset, global_spread = x[rows], self.offset[rows], self.global_spread[rows]
        mean, spread, before = self.mean[rows, b], self.spread[rows, b], self.visits[rows, b]
        visits = before + 1
        rate = np.maximum(self.config.alpha, 1.0 / visits)
        expected = np.where(before > 0, mean + offset, np.nan)  # as _expected(b), on these rows
        resid = np.where(np.isnan(expected), 0.0, xs - expected)
        size = np.abs(resid)
        seen = visits > 1
        self.spread[rows, b] = np.where(seen, spread + rate * (size - spread), 0.0)
        self.global_spread[rows] = global_spread + np.where(seen, 0.01 * (size - global_spread), 0.0)
        base = xs - offset
        self.mean[rows, b] = np.where(seen, mean + rate * (base - mean), base)
        self.offset[rows] = offset + np.where(seen, 0.02 * (1 - rate) * resid, 0.0)
        self.visits[rows, b] = visits
