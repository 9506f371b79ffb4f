"""Exponential smoothing: EWMA level with an optional Holt trend and an EW absolute-residual scale."""

from __future__ import annotations

import numpy as np

from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray, deviation_from_band, nan_to_num
from mlaiops.detection.config import EwmaConfig

_MEAN_AD_TO_SIGMA = 1.2533


class EwmaDetector(Detector):
    """One-step-ahead forecast level + trend; anomalous beyond threshold * sigma of its residuals.

    Early on the smoothing rates are max(rate, 1/n) so the first points give plain averages instead
    of a level and scale biased towards the first value and zero. The level follows a shift within a
    few points, so its shift channel (``shiftWindow``, ``detection.base``) measures its residuals from a
    slower level (``shiftAlpha``; 0: from the level itself, which sees only abrupt shifts).
    """

    type = "ewma"
    config_model = EwmaConfig
    config: EwmaConfig
    _state_fields = ("level", "trend", "scale", "count", "slow")

    def _init_state(self, n: int) -> None:
        self.level = np.full(n, np.nan)
        self.trend = np.zeros(n)
        self.scale = np.zeros(n)
        self.count = np.zeros(n, dtype=np.int64)
        self.slow = np.full(n, np.nan)

    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        expected = self.level + self.trend
        half = self.config.threshold * _MEAN_AD_TO_SIGMA * self.scale
        up, down, lower, upper = deviation_from_band(x, expected, half, half, self.config)
        return Deviation(up, down, expected, lower, upper, self.count > self.config.min_points)

    def _shift_residual(self, x: FloatArray, dev: Deviation) -> FloatArray:
        """``shiftAlpha``: the shift channel's residual from a slower level than the point's, which a
        sustained shift does not absorb within a few points."""
        if self.config.shift_alpha <= 0:
            return super()._shift_residual(x, dev)
        resid: FloatArray = x - self.slow
        return resid

    def _after_score(self, t: float, x: FloatArray, usable: BoolArray, score: FloatArray) -> None:
        """Learn as every detector does; then, with ``shiftLearnAll``, the slow level learns every ``usable``
        point, flagged ones included (without it, :meth:`_learn` moves it with the level's own points)."""
        super()._after_score(t, x, usable, score)
        if self.config.shift_learn_all:
            self._learn_slow(x, usable)

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        cfg = self.config
        n = self.count + mask
        first = mask & (self.count == 0)
        expected = np.where(first, x, self.level + self.trend)
        inv = 1.0 / np.maximum(n, 1)
        resid_rate = np.where(self.count <= 1, 1.0, np.maximum(cfg.scale_alpha, 1.0 / np.maximum(n - 1, 1)))
        scale = np.where(first, 0.0, self.scale + resid_rate * (np.abs(x - expected) - self.scale))
        alpha = np.maximum(cfg.alpha, inv)
        level = alpha * x + (1 - alpha) * expected
        trend = np.where(first, 0.0, cfg.beta * (level - nan_to_num(self.level)) + (1 - cfg.beta) * self.trend)
        if mask.all():  # the usual step: every series learns, nothing to select
            self.level, self.trend, self.scale = level, trend, scale
        else:
            self.level = np.where(mask, level, self.level)
            self.trend = np.where(mask, trend, self.trend)
            self.scale = np.where(mask, scale, self.scale)
        self.count = n
        if not cfg.shift_learn_all:
            self._learn_slow(x, mask)

    def _learn_slow(self, x: FloatArray, mask: BoolArray) -> None:
        """``shiftAlpha``: move the slow level of the ``mask`` series by ``shiftAlpha`` of their residual (by 1/n
        in a series' first 1/shiftAlpha points, n its points learned so far, this one included, as the level
        does). With ``shiftLearnAll`` a flagged point moves it too, so the slow level need not wait for the
        level to adopt a shift (``adaptAfter``) before it follows the series."""
        cfg = self.config
        if cfg.shift_alpha <= 0 or self.shift_window <= 0:
            return
        inv = 1.0 / np.maximum(self.count, 1)
        # NaN: no point yet, or a snapshot from before the slow level existed
        slow = np.where(np.isnan(self.slow), x, self.slow + np.maximum(cfg.shift_alpha, inv) * (x - self.slow))
        self.slow = slow if mask.all() else np.where(mask, slow, self.slow)
