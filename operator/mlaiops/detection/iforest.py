"""IsolationForest (scikit-learn) over a sliding window of accepted feature vectors.

Two modes. Per series (default): each series is scored on features derived from itself (value,
first difference, deviation from its EW mean), one forest per series. ``multivariate``: the series
evaluated together are the features of one entity (latency, error rate, CPU of one model server),
one forest, one shared score.

Forests are refitted every ``refitEvery`` evaluations on the training window; between refits the
model is fixed, so :meth:`run` scores whole blocks at once and stays identical to streaming.
The anomaly score is the forest's path-length score divided by its (1 - contamination) quantile
on the training window, so > 1 means "rarer than the contamination share of the baseline".
``minDeviation`` zeroes the score of a value closer than it to the window mean (the expected value), and
``noiseFloor`` (on by default, per series only) caps the score at the value's distance from that mean over
``margin`` times the largest such distance of the accepted history: the forest says how rare a point's
features are, the floor whether its value is further out than the series' normal has ever been. Without it
the forest pages on its ``contamination`` share of every series (NAB: 7,221 false-positive rows, README).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray, Scores, Step
from mlaiops.detection.config import IsolationForestConfig

_FEATURE_ALPHA = 0.1


class IsolationForestDetector(Detector):
    type = "isolationForest"
    config_model = IsolationForestConfig
    config: IsolationForestConfig
    _state_fields = ("buf", "pos", "count", "tick", "prev", "ewmean", "train", "train_count")

    def _init_state(self, n: int) -> None:
        cfg = self.config
        self._models: list[Any] = []
        self._thresholds = np.ones(n)
        rows, feats = (1, n) if cfg.multivariate else (n, 3)
        self.buf = np.zeros((rows, cfg.window, feats))
        self.pos = np.zeros(rows, dtype=np.int64)
        self.count = np.zeros(rows, dtype=np.int64)
        self.train = np.zeros((rows, cfg.window, feats))
        self.train_count = np.zeros(rows, dtype=np.int64)
        self.tick = np.zeros((), dtype=np.int64)
        self.prev = np.full(n, np.nan)
        self.ewmean = np.full(n, np.nan)

    # -- features and models ------------------------------------------------------------------
    def _features(self, x: FloatArray) -> FloatArray:
        """Feature rows for this point (and advance the feature state: values only, no flags)."""
        prev = np.where(np.isnan(self.prev), x, self.prev)
        ewmean = np.where(np.isnan(self.ewmean), x, self.ewmean)
        finite = np.isfinite(x)
        self.prev = np.where(finite, x, self.prev)
        self.ewmean = np.where(finite, ewmean + _FEATURE_ALPHA * (x - ewmean), self.ewmean)
        if self.config.multivariate:
            return x[None, :]
        return np.stack([x, x - prev, x - ewmean], axis=1)

    def _refit(self) -> None:
        cfg = self.config
        ready = self.count >= cfg.min_points
        self.train = np.where(ready[:, None, None], self.buf, self.train)
        self.train_count = np.where(ready, self.count, self.train_count)
        self._fit_models()

    def _fit_models(self) -> None:
        from sklearn.ensemble import IsolationForest

        cfg = self.config
        self._models = []
        thresholds = []
        for row in range(self.train.shape[0]):
            n = int(self.train_count[row])
            if n < cfg.min_points:
                self._models.append(None)
                thresholds.append(1.0)
                continue
            data = self.train[row, :n]
            model = IsolationForest(
                n_estimators=cfg.n_estimators, max_samples=min(256, n), random_state=cfg.random_state
            ).fit(data)
            raw = -model.score_samples(data)
            self._models.append(model)
            thresholds.append(float(np.quantile(raw, 1.0 - cfg.contamination)))
        self._thresholds = np.asarray(thresholds)

    def _restored(self) -> None:
        if self.train_count.max(initial=0) > 0:
            self._fit_models()

    # -- evaluation ---------------------------------------------------------------------------
    def _deviation(self, t: float, x: FloatArray) -> Deviation:  # pragma: no cover - run() is used
        raise NotImplementedError

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:  # pragma: no cover
        raise NotImplementedError

    def update(self, timestamp: float, values: ArrayLike, excluded: ArrayLike | bool = False) -> Step:
        x = np.asarray(values, dtype=np.float64).reshape(self.n_series)
        exc = np.broadcast_to(np.asarray(excluded, dtype=bool), (self.n_series,))
        scores = self.run(x[:, None], [timestamp], exc[:, None])
        return Step(scores.score[:, 0], scores.expected[:, 0], scores.lower[:, 0], scores.upper[:, 0])

    def run(self, values: ArrayLike, timestamps: ArrayLike, excluded: ArrayLike | None = None) -> Scores:
        ts = np.asarray(timestamps, dtype=np.float64)
        vals = np.asarray(values, dtype=np.float64).reshape(self.n_series, ts.size)
        exc = (
            np.zeros(vals.shape, dtype=bool)
            if excluded is None
            else np.broadcast_to(np.asarray(excluded, dtype=bool).reshape(-1, ts.size), vals.shape)
        )
        out = np.zeros((4, self.n_series, ts.size))
        start = 0
        while start < ts.size:
            if int(self.tick) % self.config.refit_every == 0:
                self._refit()
            stop = min(ts.size, start + self.config.refit_every - int(self.tick) % self.config.refit_every)
            self._block(vals[:, start:stop], exc[:, start:stop], out[:, :, start:stop])
            start = stop
        return Scores(out[0], out[1], out[2], out[3])

    def _block(self, vals: FloatArray, exc: BoolArray, out: FloatArray) -> None:
        k = vals.shape[1]
        feats = np.stack([self._features(vals[:, i]) for i in range(k)], axis=1)  # rows, k, F
        raw = np.zeros((feats.shape[0], k))
        for row, model in enumerate(self._models):
            if model is not None:
                safe = np.nan_to_num(feats[row])
                raw[row] = -model.score_samples(safe) / self._thresholds[row]
        ready = np.array([m is not None for m in self._models] or [False] * feats.shape[0])
        if self.config.multivariate:
            raw = np.broadcast_to(raw, (self.n_series, k))
            ready = np.broadcast_to(ready, (self.n_series,))
        for i in range(k):
            x = vals[:, i]
            expected, lower, upper = self._band()
            side = np.where(x >= expected, 1.0, 0.0)
            floored = np.where(self._too_close(x, expected), 0.0, raw[:, i])
            dev = self._floored(x, Deviation(floored * side, floored * (1 - side), expected, lower, upper, ready))
            invalid = self._invalid(x)
            score = self._finish(x, dev, invalid)
            out[0, :, i], out[1, :, i], out[2, :, i] = score, expected, dev.lower
            out[3, :, i] = dev.upper
            self._accept(x, feats[:, i], exc[:, i], score, invalid)
            self._raise_noise_bar(x, dev, self._usable(x, exc[:, i], invalid), score)

    def _too_close(self, x: FloatArray, expected: FloatArray) -> BoolArray:
        """``minDeviation``: a value closer than this to its window mean is not anomalous, however rare."""
        md = self.config.min_deviation
        with np.errstate(invalid="ignore"):
            return np.abs(x - expected) < np.maximum(md.absolute, md.relative * np.abs(expected))

    def _band(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        window = self.config.window
        valid = (np.arange(window)[None, :] < self.count[:, None])[..., None]
        values = self.buf if self.config.multivariate else self.buf[:, :, :1]
        n = np.maximum(self.count, 1)[:, None]
        mean = np.where(valid, values, 0.0).sum(axis=1) / n
        lo = np.where(valid, values, np.inf).min(axis=1)
        hi = np.where(valid, values, -np.inf).max(axis=1)
        if self.config.multivariate:
            return mean[0], lo[0], hi[0]
        return mean[:, 0], lo[:, 0], hi[:, 0]

    def _accept(
        self, x: FloatArray, feats: FloatArray, exc: BoolArray, score: FloatArray, invalid: BoolArray | None
    ) -> None:
        anomalous = score > 1.0
        self.streak = np.where(anomalous, self.streak + 1, 0)
        learn = self._usable(x, exc, invalid)
        learn &= ~anomalous | (self.streak >= self.config.adapt_after)
        if self.config.multivariate:
            learn = np.atleast_1d(learn.all())
        rows = np.flatnonzero(learn)
        self.buf[rows, self.pos[rows]] = feats[rows]
        self.pos[rows] = (self.pos[rows] + 1) % self.config.window
        self.count[rows] = np.minimum(self.count[rows] + 1, self.config.window)
        self.tick = self.tick + 1
