"""Evaluate many series with one detector + hysteresis, honouring exclusion marks.

This is what the controller and ``mlaiops detect`` both run. Exclusion marks are time ranges
("rollout or remediation in progress") during which points are scored but never learned, for all
series or for selected ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlaiops.detection.base import BoolArray, Detector, FloatArray
from mlaiops.detection.config import DetectorBase, HysteresisConfig
from mlaiops.detection.hysteresis import AlertState, Hysteresis
from mlaiops.detection.registry import build_detector, detector_from_dict


@dataclass(frozen=True)
class ExclusionMark:
    """[start, end] in seconds (inclusive); ``series`` None means every series."""

    start: float
    end: float
    series: tuple[int, ...] | None = None


@dataclass(frozen=True)
class EngineResult:
    """Everything one evaluation block produced, arrays of shape (n_series, n_points)."""

    score: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    state: NDArray[np.int8]

    @property
    def anomalous(self) -> BoolArray:
        """The raw per-point verdict, before hysteresis."""
        return self.score > 1.0

    @property
    def firing(self) -> BoolArray:
        """The operational decision, after hysteresis."""
        return np.asarray(self.state == AlertState.FIRING, dtype=np.bool_)


class Engine:
    """One detector and one hysteresis over ``n_series`` series sharing timestamps."""

    def __init__(
        self,
        detector: DetectorBase | Mapping[str, Any] | Detector,
        hysteresis: HysteresisConfig | None = None,
        n_series: int = 1,
    ) -> None:
        self.detector = detector if isinstance(detector, Detector) else build_detector(detector, n_series)
        self.n_series = self.detector.n_series
        self.hysteresis = Hysteresis(hysteresis, self.n_series)
        self.marks: list[ExclusionMark] = []

    def mark_excluded(self, start: float, end: float, series: Sequence[int] | None = None) -> None:
        """Keep [start, end] out of every baseline (e.g. a rollout or a remediation in progress)."""
        if end < start:
            raise ValueError("exclusion mark: end must be >= start")
        self.marks.append(ExclusionMark(float(start), float(end), None if series is None else tuple(series)))

    def forget_marks_before(self, timestamp: float) -> None:
        """Drop marks that ended before ``timestamp`` (they can no longer match a new point)."""
        self.marks = [m for m in self.marks if m.end >= timestamp]

    def excluded(self, timestamps: ArrayLike) -> BoolArray:
        """(n_series, n_points) mask of points covered by a mark."""
        ts = np.asarray(timestamps, dtype=np.float64)
        mask = np.zeros((self.n_series, ts.size), dtype=bool)
        for mark in self.marks:
            inside = (ts >= mark.start) & (ts <= mark.end)
            if mark.series is None:
                mask |= inside[None, :]
            else:
                mask[list(mark.series)] |= inside[None, :]
        return mask

    def fit(self, history: ArrayLike, timestamps: ArrayLike) -> Engine:
        """Warm-start the detector from history (marks apply; hysteresis is not advanced)."""
        self.detector.fit(history, timestamps, self.excluded(timestamps))
        return self

    def evaluate(self, timestamps: ArrayLike, values: ArrayLike, excluded: ArrayLike | None = None) -> EngineResult:
        """Score a block of new points in time order and advance the alert state machine.

        ``excluded`` is an optional per-point flag (n_points or n_series x n_points) combined with
        the marks.
        """
        ts = np.atleast_1d(np.asarray(timestamps, dtype=np.float64))
        vals = np.asarray(values, dtype=np.float64).reshape(self.n_series, ts.size)
        mask = self.excluded(ts)
        if excluded is not None:
            mask |= np.broadcast_to(np.asarray(excluded, dtype=bool).reshape(-1, ts.size), mask.shape)
        scores = self.detector.run(vals, ts, mask)
        state = self.hysteresis.run(scores.anomalous)
        return EngineResult(scores.score, scores.expected, scores.lower, scores.upper, state)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe snapshot of detector, hysteresis and marks."""
        return {
            "detector": self.detector.to_dict(),
            "hysteresis": self.hysteresis.to_dict(),
            "marks": [[m.start, m.end, None if m.series is None else list(m.series)] for m in self.marks],
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Engine:
        engine = cls(detector_from_dict(payload["detector"]))
        engine.hysteresis = Hysteresis.from_dict(payload["hysteresis"])
        for start, end, series in payload["marks"]:
            engine.mark_excluded(start, end, series)
        return engine
