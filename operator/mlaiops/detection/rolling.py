"""Rolling-window detectors: z-score (mean/std) and MAD (median/median absolute deviation).

Both keep a ring buffer of the last ``window`` *accepted* points per series, so anomalies and
excluded periods never pollute the baseline. Both also watch the median of their recent residuals
(``shiftWindow``, ``detection.base``): a sustained shift whose points each stay inside the band.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray, deviation_from_band
from mlaiops.detection.config import MadConfig, ZScoreConfig

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
_MEAN_AD_TO_SIGMA = 1.2533


class _RollingDetector(Detector):
    _state_fields: ClassVar[tuple[str, ...]] = ("buf", "pos", "count")
    config: ZScoreConfig | MadConfig

    def _init_state(self, n: int) -> None:
        self.buf = np.zeros((n, self.config.window))
        self.pos = np.zeros(n, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self._slots = np.arange(self.config.window)

    def _valid(self) -> BoolArray:
        valid: BoolArray = self._slots[None, :] < self.count[:, None]
        return valid

    def _push(self, rows: np.ndarray, x: FloatArray) -> FloatArray:
        """Write ``x`` for ``rows`` into the ring; returns the values they replaced (NaN if none)."""
        window = self.config.window
        pos, count = self.pos[rows], self.count[rows]
        old = np.where(count == window, self.buf[rows, pos], np.nan)
        self.buf[rows, pos] = x
        self.pos[rows] = (pos + 1) % window
        self.count[rows] = np.minimum(count + 1, window)
        return old

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        rows = mask.nonzero()[0]
        if rows.size:
            self._push(rows, x[rows])

    def _center_scale(self) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        center, scale = self._center_scale()
        half = self.config.threshold * scale
        up, down, lower, upper = deviation_from_band(x, center, half, half, self.config)
        return Deviation(up, down, center, lower, upper, self.count >= self.config.min_points)


class ZScoreDetector(_RollingDetector):
    """Anomalous when |x - mean| > threshold * std over the rolling window.

    Mean and variance come from running sums of (x - ref), O(1) per point. ``ref`` is re-centred
    on the window mean and the sums recomputed exactly once per window length, which bounds both
    rounding drift and cancellation for series with a large offset (bytes, counters).
    """

    type = "zscore"
    config_model = ZScoreConfig
    _state_fields = ("buf", "pos", "count", "ref", "s1", "s2", "since")

    def _init_state(self, n: int) -> None:
        super()._init_state(n)
        self.ref = np.zeros(n)
        self.s1 = np.zeros(n)
        self.s2 = np.zeros(n)
        self.since = np.zeros(n, dtype=np.int64)

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        rows = mask.nonzero()[0]
        if rows.size == 0:
            return
        xs = x[rows]
        ref = np.where(self.count[rows] == 0, xs, self.ref[rows])
        self.ref[rows] = ref
        old = self._push(rows, xs)
        d_new = xs - ref
        d_old = np.where(np.isnan(old), 0.0, old - ref)
        self.s1[rows] += d_new - d_old
        self.s2[rows] += d_new * d_new - d_old * d_old
        since = self.since[rows] + 1
        self.since[rows] = since
        stale = rows[since >= self.config.window]
        if stale.size:
            self._recompute(stale)

    def _recompute(self, rows: np.ndarray) -> None:
        valid = self._valid()[rows]
        n = np.maximum(self.count[rows], 1)
        buf = self.buf[rows]
        self.ref[rows] = np.where(valid, buf, 0.0).sum(axis=1) / n
        dev = np.where(valid, buf - self.ref[rows][:, None], 0.0)
        self.s1[rows] = dev.sum(axis=1)
        self.s2[rows] = (dev * dev).sum(axis=1)
        self.since[rows] = 0

    def _center_scale(self) -> tuple[FloatArray, FloatArray]:
        n = np.maximum(self.count, 1)
        mean = self.ref + self.s1 / n
        var = np.maximum(self.s2 - self.s1 * self.s1 / n, 0.0) / np.maximum(n - 1, 1)
        return np.where(self.count > 0, mean, np.nan), np.sqrt(var)


class MadDetector(_RollingDetector):
    """Anomalous when |x - median| > threshold * 1.4826 * MAD over the rolling window.

    When more than half the window is one value (MAD = 0, common for idle CPUs) the scale falls
    back to the mean absolute deviation so a single flicker is not infinitely surprising.
    Cost: two sorts of the window per point, the price of robustness, and one of the ``shiftWindow``
    (60) recent residuals.
    """

    type = "mad"
    config_model = MadConfig

    @staticmethod
    def _middle(ordered: FloatArray, lo: int | np.ndarray, hi: int | np.ndarray) -> FloatArray:
        """Mean of columns ``lo`` and ``hi`` of each sorted row (ints: the same columns for every row)."""
        if isinstance(lo, int):
            middle: FloatArray = 0.5 * (ordered[:, lo] + ordered[:, hi])
            return middle
        rows = np.arange(ordered.shape[0])
        middle = 0.5 * (ordered[rows, lo] + ordered[rows, hi])
        return middle

    def _center_scale(self) -> tuple[FloatArray, FloatArray]:
        n = self.count
        window = self.config.window
        lo: int | np.ndarray
        hi: int | np.ndarray
        if n.min() == window:  # every ring full, the usual case: no masking, the same middle for all
            valid = None
            lo, hi = (window - 1) // 2, window // 2
        else:
            valid = self._valid()
            lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
        data = self.buf if valid is None else np.where(valid, self.buf, np.inf)
        median = self._middle(np.sort(data, axis=1), lo, hi)
        absdev = np.abs(self.buf - median[:, None])
        if valid is not None:
            absdev[~valid] = np.inf
        mad = self._middle(np.sort(absdev, axis=1), lo, hi)
        scale = _MAD_TO_SIGMA * mad
        flat = (mad <= 0).nonzero()[0]
        if flat.size:
            dev = absdev[flat]
            mean_ad = np.where(np.isfinite(dev), dev, 0.0).sum(axis=1) / np.maximum(n[flat], 1)
            scale[flat] = _MEAN_AD_TO_SIGMA * mean_ad
        return np.where(n > 0, median, np.nan), scale
