"""Predictive alerting: fire when the trend says the series will cross a bound within ``horizon``.

The "disk full within 30 minutes" rule (Prometheus' predict_linear), but with a Holt level+trend
that is robust to a single noisy sample, and scored so that > 1 means "crossing sooner than the
horizon": score = horizon / time-to-cross.
"""

from __future__ import annotations

import numpy as np

from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray
from mlaiops.detection.config import ForecastConfig


class ForecastDetector(Detector):
    """Holt's linear method in continuous time (trend per second, irregular steps allowed).

    A series heading for the bound is exactly what the baseline must keep following, so flagged
    points are *not* excluded from it (only invalid, missing and marked-excluded points are).
    ``minDeviation`` is the least change the forecast must predict over the horizon before it counts.
    """

    type = "forecast"
    config_model = ForecastConfig
    config: ForecastConfig
    _state_fields = ("level", "trend", "last_t", "count")
    exclude_anomalies = False

    def _init_state(self, n: int) -> None:
        self.level = np.full(n, np.nan)
        self.trend = np.zeros(n)
        self.last_t = np.full(n, np.nan)
        self.count = np.zeros(n, dtype=np.int64)

    def _candidate(self, t: float, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Level and trend after ``x``; a repeated timestamp (dt = 0) updates the level only."""
        cfg = self.config
        first = self.count == 0
        elapsed = np.where(first, 0.0, t - self.last_t)
        moved = elapsed > 0
        dt = np.where(moved, elapsed, 1.0)
        predicted = self.level + self.trend * np.where(moved, dt, 0.0)
        level = np.where(first, x, cfg.alpha * x + (1 - cfg.alpha) * predicted)
        slope = (level - self.level) / dt
        smoothed = np.where(self.count == 1, slope, cfg.beta * slope + (1 - cfg.beta) * self.trend)
        trend = np.where(first, 0.0, np.where(moved, smoothed, self.trend))
        return level, trend

    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        cfg = self.config
        level, trend = self._candidate(t, x)
        self._pending = (level, trend)
        change = np.abs(trend) * cfg.horizon
        md = cfg.min_deviation
        big_enough = change > np.maximum(md.absolute, md.relative * np.abs(level))
        n = x.shape[0]
        up = np.zeros(n)
        down = np.zeros(n)
        with np.errstate(divide="ignore", invalid="ignore"):
            if cfg.upper is not None:
                ttc = (cfg.upper - level) / trend
                up = np.where((trend > 0) & big_enough, cfg.horizon / np.maximum(ttc, 1e-9), 0.0)
                up = np.where(
                    level >= cfg.upper, np.maximum(up, 1.0 + (level - cfg.upper) / max(abs(cfg.upper), 1.0)), up
                )
            if cfg.lower is not None:
                ttc = (cfg.lower - level) / trend
                down = np.where((trend < 0) & big_enough, cfg.horizon / np.maximum(ttc, 1e-9), 0.0)
                down = np.where(
                    level <= cfg.lower, np.maximum(down, 1.0 + (cfg.lower - level) / max(abs(cfg.lower), 1.0)), down
                )
        lower = np.full(n, -np.inf if cfg.lower is None else cfg.lower)
        upper = np.full(n, np.inf if cfg.upper is None else cfg.upper)
        ready = self.count + 1 >= cfg.min_points
        return Deviation(up, down, level + trend * cfg.horizon, lower, upper, ready)

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        level, trend = self._pending
        self.level = np.where(mask, level, self.level)
        self.trend = np.where(mask, trend, self.trend)
        self.last_t = np.where(mask, t, self.last_t)
        self.count = self.count + mask
