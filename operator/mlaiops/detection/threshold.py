"""Static bounds: the detector for "CPU above 90%" style rules, sharing every other rule."""

from __future__ import annotations

import numpy as np

from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray
from mlaiops.detection.config import ThresholdConfig


class ThresholdDetector(Detector):
    """Score 0 inside [lower, upper]; outside, 1 + the excess relative to the bound's magnitude.

    ``minDeviation`` is the margin the value must exceed the bound by before it counts.
    """

    type = "threshold"
    config_model = ThresholdConfig
    config: ThresholdConfig

    def _init_state(self, n: int) -> None:
        pass

    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        lo = -np.inf if self.config.lower is None else self.config.lower
        hi = np.inf if self.config.upper is None else self.config.upper
        expected = np.clip(x, lo, hi)
        md = self.config.min_deviation
        min_dev = np.maximum(md.absolute, md.relative * np.abs(expected))
        excess = np.abs(x - expected)
        ref = np.maximum(np.abs(expected), 1.0)
        outside = np.where(excess > min_dev, 1.0 + excess / ref, 0.0)
        n = x.shape[0]
        return Deviation(
            up=np.where(x > hi, outside, 0.0),
            down=np.where(x < lo, outside, 0.0),
            expected=expected,
            lower=np.full(n, lo),
            upper=np.full(n, hi),
            ready=np.ones(n, dtype=bool),
        )

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        pass
