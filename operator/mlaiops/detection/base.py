"""The one streaming interface every detector implements.

A detector evaluates ``n_series`` series at once (vectorised across series): each call to
:meth:`Detector.update` sees one timestamp and one value per series, in time order, never a future
point, and returns per series an anomaly score (> 1 means anomalous, as in vmanomaly), the expected
value and a band. Shared rules live here so every detector honours them the same way:

* ``direction`` keeps only deviations above (up), below (down) or on both sides of the expectation;
* ``minDeviation`` widens the band to at least max(absolute, relative * |expected|);
* ``dataRange`` marks values outside [min, max] as invalid (score ``INVALID_SCORE``);
* points that are anomalous, invalid, missing (NaN) or marked excluded (rollout/remediation in
  progress) do not enter the baseline, except that after ``adaptAfter`` consecutive anomalous points
  the baseline starts accepting the new regime (otherwise a level shift would fire forever);
* ``noiseFloor`` never lets the band be narrower than the largest residual the series' normal has shown;
* ``shiftWindow`` (zscore, mad, ewma) also scores the median of the recent residuals against its own
  floor: a sustained shift whose points each stay inside the band.

State is a handful of numpy arrays, listed in ``_state_fields``, so serialising is generic.
"""

from __future__ import annotations

import builtins
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlaiops.detection.config import DetectorBase

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

INVALID_SCORE = 100.0
"""Score given to a value outside ``dataRange``: anomalous whatever the threshold."""

_EPS = 1e-9
_MAX = float(np.finfo(np.float64).max)

SHIFT_WARMUP = 300
"""Points of residual medians seen before the shift channel scores (a fresh bar pages on every new high)."""


@dataclass(frozen=True)
class Step:
    """Outputs of one evaluation, one entry per series."""

    score: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray

    @property
    def anomalous(self) -> BoolArray:
        return self.score > 1.0


@dataclass(frozen=True)
class Scores:
    """Outputs of many evaluations, shape (n_series, n_points)."""

    score: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray

    @property
    def anomalous(self) -> BoolArray:
        return self.score > 1.0


@dataclass(frozen=True)
class Deviation:
    """What a detector family computes for one point before the shared rules are applied."""

    up: FloatArray  # score if the point is read as too high (>= 0)
    down: FloatArray  # score if read as too low (>= 0)
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    ready: BoolArray  # enough history to score


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """JSON-safe form of a numpy array: NaN -> null, +-inf -> "inf"/"-inf" (strict JSON)."""
    if array.dtype.kind != "f":
        return {"dtype": str(array.dtype), "shape": list(array.shape), "data": array.tolist()}
    data = array.astype(object)
    data[np.isnan(array)] = None
    data[np.isposinf(array)] = "inf"
    data[np.isneginf(array)] = "-inf"
    return {"dtype": "float64", "shape": list(array.shape), "data": data.tolist()}


_SHIFT_FIELDS = ("shift_buf", "shift_count", "shift_bar", "shift_flagged")

_TO_FLOAT = np.frompyfunc(lambda v: np.nan if v is None else float(v), 1, 1)


def decode_array(payload: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array`."""
    shape = tuple(payload["shape"])
    if payload["dtype"] != "float64":
        return np.array(payload["data"], dtype=payload["dtype"]).reshape(shape)
    data = np.array(payload["data"], dtype=object).reshape(shape)
    return np.asarray(_TO_FLOAT(data), dtype=np.float64).reshape(shape)


def nan_to_num(values: FloatArray) -> FloatArray:
    """``np.nan_to_num(values)`` of a float array, bit for bit (NaN -> 0, +-inf -> +-the largest float).

    numpy's own has the per-call overhead of a dozen small operations, and a detector's step on a few
    series is all per-call overhead.
    """
    return np.where(np.isnan(values), 0.0, np.minimum(np.maximum(values, -_MAX), _MAX))


def deviation_from_band(
    x: FloatArray, expected: FloatArray, half_low: FloatArray, half_high: FloatArray, config: DetectorBase
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Scores (up, down) and band (lower, upper) once minDeviation has widened the band.

    Every detector passes one array as both halves; it is then widened once.
    """
    magnitude = np.abs(expected)
    min_dev = np.maximum(config.min_deviation.absolute, config.min_deviation.relative * magnitude)
    # _EPS * max(1, |nan_to_num(expected)|): fmax takes 1 over a NaN, fmin caps an inf at the largest float
    widest = np.maximum(min_dev, _EPS * np.fmin(np.fmax(magnitude, 1.0), _MAX))
    low = np.maximum(half_low, widest)
    high = low if half_high is half_low else np.maximum(half_high, widest)
    dev = x - expected
    up = np.where(dev > 0, dev / high, 0.0)
    down = np.where(dev < 0, -dev / low, 0.0)
    return up, down, expected - low, expected + high


def _without(mask: BoolArray, invalid: BoolArray | None) -> BoolArray:
    """``mask & ~invalid``, skipped when there is no ``dataRange`` (``invalid`` None)."""
    return mask if invalid is None else mask & ~invalid


class Detector(ABC):
    """Streaming detector over ``n_series`` series sharing timestamps.

    Subclasses implement :meth:`_deviation` (score one point from the state before it) and
    :meth:`_learn` (fold the point into the state where ``mask`` is true), and list their state
    arrays in ``_state_fields``.
    """

    type: ClassVar[str]
    # ``builtins.type``: inside this class body, ``type`` is the class variable above.
    config_model: ClassVar[builtins.type[DetectorBase]]
    _state_fields: ClassVar[tuple[str, ...]] = ()
    exclude_anomalies: ClassVar[bool] = True

    def __init__(self, config: DetectorBase, n_series: int = 1) -> None:
        if not isinstance(config, self.config_model):
            config = self.config_model.model_validate(config)
        if n_series < 1:
            raise ValueError("n_series must be >= 1")
        self.config = config
        self.n_series = n_series
        self.streak = np.zeros(n_series, dtype=np.int64)
        self.noise_bar = np.zeros(n_series)
        self.flagged_bar = np.zeros(n_series)
        self.shift_window = int(getattr(config, "shift_window", 0))
        if self.shift_window > 0:
            self.shift_buf = np.zeros((n_series, self.shift_window))
            self.shift_count = np.zeros(n_series, dtype=np.int64)
            self.shift_bar = np.zeros(n_series)
            self.shift_flagged = np.zeros(n_series)
        self._init_state(n_series)

    # -- to implement -------------------------------------------------------------------------
    @abstractmethod
    def _init_state(self, n: int) -> None:
        """Create the state arrays for ``n`` series."""

    @abstractmethod
    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        """Score the point ``x`` at ``t`` from the state built on earlier points only."""

    @abstractmethod
    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        """Fold ``x`` into the baseline of the series where ``mask`` is true."""

    # -- streaming API ------------------------------------------------------------------------
    def update(self, timestamp: float, values: ArrayLike, excluded: ArrayLike | bool = False) -> Step:
        """Evaluate one timestamp: one value per series (NaN = missing), ``excluded`` per series."""
        x = np.asarray(values, dtype=np.float64).reshape(self.n_series)
        exc = np.asarray(excluded, dtype=bool)
        if exc.shape != x.shape:
            exc = np.broadcast_to(exc, x.shape)
        return self._step(float(timestamp), x, exc)

    def _step(self, t: float, x: FloatArray, exc: BoolArray) -> Step:
        """:meth:`update` on inputs already shaped (n_series,), as :meth:`run` has them."""
        invalid = self._invalid(x)
        dev = self._floored(x, self._deviation(t, x))
        score = self._shifted(x, dev, self._finish(x, dev, invalid), invalid)
        usable = self._usable(x, exc, invalid)
        self._after_score(t, x, usable, score)
        self._raise_noise_bar(x, dev, usable, score)
        return Step(score, dev.expected, dev.lower, dev.upper)

    def _floored(self, x: FloatArray, dev: Deviation) -> Deviation:
        """The band widened to the noise floor (``noiseFloor``): a floor can only lower a score."""
        margin = self.config.noise_floor.margin
        if margin <= 0:
            return dev
        floor = margin * self.noise_bar
        expected = dev.expected
        banded = np.isfinite(expected) & (floor > 0)
        if not banded.any():
            return dev
        gap = nan_to_num(x - expected)
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.minimum(dev.up, np.maximum(gap, 0.0) / floor)
            down = np.minimum(dev.down, np.maximum(-gap, 0.0) / floor)
        lower = np.minimum(dev.lower, expected - floor)
        upper = np.maximum(dev.upper, expected + floor)
        if not banded.all():  # the bare band where there is no floor yet
            up, down = np.where(banded, up, dev.up), np.where(banded, down, dev.down)
            lower, upper = np.where(banded, lower, dev.lower), np.where(banded, upper, dev.upper)
        return Deviation(up=up, down=down, expected=expected, lower=lower, upper=upper, ready=dev.ready)

    def _shifted(self, x: FloatArray, dev: Deviation, score: FloatArray, invalid: BoolArray | None) -> FloatArray:
        """``shiftWindow``: a sustained shift that no single point shows. The median of the last
        ``shiftWindow`` residuals is scored against ``margin`` times the largest such median of the
        accepted history (the noise floor's rule, decay, ``learn`` and ``repeat`` included), and never
        less than the noise bar / sqrt(``shiftWindow``), the spread of a median of plain noise: a series
        whose medians sat at exactly 0 (a perfect wiggle) must not page on its first tiny offset. A
        median, not a mean, so a spike (even one learned as a repeat) does not move it; half a window
        of shifted points does. The score is the larger of the point's and the shift's."""
        window = self.shift_window
        floor = self.config.noise_floor
        if window <= 0 or floor.margin <= 0:
            return score
        resid = self._shift_residual(x, dev)
        seen = _without(np.isfinite(resid) & dev.ready, invalid)
        rows = seen.nonzero()[0]
        self.shift_buf[rows, self.shift_count[rows] % window] = resid[rows]
        self.shift_count = self.shift_count + seen
        ordered = np.sort(self.shift_buf, axis=1)  # a sort of short rows beats np.median's partition 5x
        middle = 0.5 * (ordered[:, (window - 1) // 2] + ordered[:, window // 2])
        size = np.abs(middle)
        bar = floor.margin * np.maximum(self.shift_bar, self.noise_bar / math.sqrt(window))
        warm = seen & (self.shift_count >= max(window, SHIFT_WARMUP)) & (bar > 0)
        if self.config.direction == "up":
            warm &= middle > 0
        elif self.config.direction == "down":
            warm &= middle < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.maximum(score, np.where(warm, size / bar, 0.0))
        flagged = out > 1.0
        full = seen & (self.shift_count >= window)
        decayed = self.shift_bar * 0.5 ** (1.0 / floor.memory)
        lifted = size
        if flagged.any():  # else the usual step: every full window lifts the bar to its median
            repeat = flagged & (size <= floor.repeat * self.shift_flagged)
            lifted = np.where(flagged & ~repeat, decayed + floor.learn * (size - decayed), size)
            self.shift_flagged = np.where(full & flagged, np.maximum(self.shift_flagged, size), self.shift_flagged)
        self.shift_bar = np.where(full, np.maximum(decayed, lifted), decayed)
        return out

    def _shift_residual(self, x: FloatArray, dev: Deviation) -> FloatArray:
        """The residual the shift channel takes its median of: from the point's expected value, unless a
        detector keeps a slower reference for it (ewma's ``shiftAlpha``)."""
        resid: FloatArray = x - dev.expected
        return resid

    def _raise_noise_bar(self, x: FloatArray, dev: Deviation, usable: BoolArray, score: FloatArray) -> None:
        """The largest residual of the accepted points, decaying by half every ``memory`` points; a flagged
        point lifts it ``learn`` of the way, or all the way if it repeats an earlier flagged one (within a
        factor ``repeat`` of the largest: a daily job pages once or twice, not every day). Only once the
        detector is ready: its first expectations are guesses, and their residuals would hold the bar up
        for ``memory`` points."""
        floor = self.config.noise_floor
        if floor.margin <= 0:
            return
        residual = np.abs(x - dev.expected)
        seen = np.isfinite(residual) & dev.ready & usable
        decayed = self.noise_bar * 0.5 ** (1.0 / floor.memory)
        flagged = score > 1.0
        lifted = residual  # the usual step, no point flagged: only the seen (finite) ones count below
        if flagged.any():
            residual = np.where(seen, residual, 0.0)  # as nan_to_num: only seen (finite) residuals are used
            repeat = flagged & (residual <= floor.repeat * self.flagged_bar)
            lifted = np.where(~flagged | repeat, residual, decayed + floor.learn * (residual - decayed))
            if floor.repeat > 0:
                self.flagged_bar = np.where(seen & flagged, np.maximum(self.flagged_bar, residual), self.flagged_bar)
        self.noise_bar = np.where(seen, np.maximum(decayed, lifted), decayed)

    def _finish(self, x: FloatArray, dev: Deviation, invalid: BoolArray | None) -> FloatArray:
        """The score of the configured ``direction``, 0 where not ready or missing, and at least
        ``INVALID_SCORE`` where ``invalid`` (:meth:`_invalid`)."""
        direction = self.config.direction
        if direction == "up":
            score = dev.up
        elif direction == "down":
            score = dev.down
        else:
            score = np.maximum(dev.up, dev.down)
        score = np.where(dev.ready & np.isfinite(x) & np.isfinite(score), np.maximum(score, 0.0), 0.0)
        if invalid is None:
            return score
        return np.where(invalid, np.maximum(score, INVALID_SCORE), score)

    def _invalid(self, x: FloatArray) -> BoolArray | None:
        """Values outside ``dataRange``; None without one (computed once per step, then passed along)."""
        data_range = self.config.data_range
        if data_range is None:
            return None
        invalid: BoolArray = (x < data_range[0]) | (x > data_range[1])
        return invalid

    def _usable(self, x: FloatArray, exc: BoolArray, invalid: BoolArray | None) -> BoolArray:
        """Points the baseline may learn from: present, not excluded, inside ``dataRange``."""
        return _without(np.isfinite(x) & ~exc, invalid)

    def _after_score(self, t: float, x: FloatArray, usable: BoolArray, score: FloatArray) -> None:
        """Learn the ``usable`` points, less the anomalous ones until ``adaptAfter`` in a row."""
        anomalous = score > 1.0
        self.streak = np.where(anomalous, self.streak + 1, 0)
        learn = usable
        if self.exclude_anomalies and anomalous.any():
            learn = usable & (~anomalous | (self.streak >= self.config.adapt_after))
        self._learn(t, x, learn)

    def run(self, values: ArrayLike, timestamps: ArrayLike, excluded: ArrayLike | None = None) -> Scores:
        """Evaluate a block of points in time order: ``values`` is (n_series, n_points) or (n_points,)."""
        ts = np.asarray(timestamps, dtype=np.float64)
        vals = np.asarray(values, dtype=np.float64).reshape(self.n_series, ts.size)
        exc = (
            np.zeros(vals.shape, dtype=bool)
            if excluded is None
            else np.broadcast_to(np.asarray(excluded, dtype=bool).reshape(-1, ts.size), vals.shape)
        )
        out = np.empty((4, self.n_series, ts.size))
        for i, t in enumerate(ts.tolist()):
            step = self._step(t, vals[:, i], exc[:, i])
            out[0, :, i], out[1, :, i], out[2, :, i], out[3, :, i] = (
                step.score,
                step.expected,
                step.lower,
                step.upper,
            )
        return Scores(out[0], out[1], out[2], out[3])

    def fit(self, history: ArrayLike, timestamps: ArrayLike, excluded: ArrayLike | None = None) -> Self:
        """Warm-start from history: the same as streaming it and discarding the scores."""
        self.run(history, timestamps, excluded)
        return self

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe snapshot: config, series count and every state array."""
        shift = _SHIFT_FIELDS if self.shift_window > 0 else ()
        names = ("streak", "noise_bar", "flagged_bar", *shift, *self._state_fields)
        state = {name: encode_array(np.asarray(getattr(self, name))) for name in names}
        return {
            "type": self.type,
            "config": self.config.model_dump(mode="json", by_alias=True),
            "n_series": self.n_series,
            "state": state,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Self:
        """Rebuild a detector of this class from :meth:`to_dict` output.

        For a payload of any detector type use ``registry.detector_from_dict``: the base class does
        not know its subclasses (the registry does), which keeps ``base`` free of an import cycle.
        """
        if getattr(cls, "type", None) != payload.get("type"):
            raise ValueError(
                f"payload of detector type {payload.get('type')!r} cannot be restored as {cls.__name__}; "
                "use mlaiops.detection.registry.detector_from_dict"
            )
        detector = cls(cls.config_model.model_validate(payload["config"]), payload["n_series"])
        for name, value in payload["state"].items():
            setattr(detector, name, decode_array(value))
        detector._restored()
        return detector

    def _restored(self) -> None:  # noqa: B027 - optional hook, deliberately a no-op by default
        """Hook for detectors with derived, non-serialised state (e.g. fitted models)."""
