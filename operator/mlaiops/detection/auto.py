"""The default detector: is this point bigger than anything the baseline has shown?

An operational alert must be rare, and a per-series threshold is exactly what nobody wants to
tune. So each component predicts the series, measures a residual, and compares it with an adaptive
*bar*: ``margin`` times the largest residual of the accepted history, decaying with a half-life of
``memory`` points so the bar can come down again. Three residuals are watched:

* fast level (EW, ``alpha``): spikes, dips and abrupt shifts;
* shift: short EW mean of the signed distance from a slow level (``slowAlpha``): sustained shifts
  that no single point shows (a plateau a few sigma up);
* seasonal profile (``period``/``buckets``, after one full period): pattern breaks, e.g. a daily
  peak that does not come.

A value that already occurred at this time of the period (the bucket's high/low envelope) is not
anomalous: daily batch jobs stop alerting once they have been seen. Flagged points stay out of the
levels and profiles (the baseline), but move a bar ``barLearn`` of the way up, so a one-off
anomaly barely recalibrates it, and an anomaly that repeats one already flagged (within
``repeatMargin``) is learned in full: a recurring event is normal for that series.

A score just over 1 (below ``MARGINAL``) pages only if the anomaly likelihood of the recent scores
(``detection.likelihood``) says they are unusual for this series: a noisy series that sits near its
bars all day does not page on them. :meth:`AutoDetector.channel_scores` says which residual fired.
"""

from __future__ import annotations

import numpy as np

from mlaiops.detection.base import BoolArray, Detector, Deviation, FloatArray, deviation_from_band, nan_to_num
from mlaiops.detection.config import AutoConfig
from mlaiops.detection.likelihood import LikelihoodState, likelihood_step

_TINY = 1e-12
MARGINAL = 1.5
"""Scores in (1, MARGINAL) fire only when the recent scores are unusual for the series (below)."""
UNUSUAL = 0.1
"""The likelihood ratio (``z / z_crit``) of the recent scores a marginal score needs to fire."""


def _raise_bar(
    bar: FloatArray, seen: FloatArray, value: FloatArray, flagged: BoolArray | None, learn: float, like: float
) -> tuple[FloatArray, FloatArray]:
    """A normal point lifts the bar to its residual; a flagged one only ``learn`` of the way.

    Unless it repeats an earlier anomaly (within a factor ``like`` of the largest flagged residual,
    ``seen``): then it is learned in full, since a recurring event is the series' normal.
    ``flagged`` None: no point is (the usual step, which then needs none of the selecting).
    """
    if flagged is None:
        return np.maximum(bar, value), seen
    repeat = flagged & (value <= like * seen)
    step = np.where(flagged & ~repeat, bar + learn * (value - bar), value)
    return np.maximum(bar, step), np.where(flagged, np.maximum(seen, value), seen)


class AutoDetector(Detector):
    type = "auto"
    config_model = AutoConfig
    config: AutoConfig
    _state_fields = (
        "count",
        "level",
        "level_bar",
        "slow",
        "shift",
        "shift_bar",
        "first_t",
        "profile",
        "visits",
        "high",
        "low",
        "season_bar",
        "level_seen",
        "shift_seen",
        "season_seen",
        "lik_short",
        "lik_mean",
        "lik_var",
        "lik_count",
    )

    def _init_state(self, n: int) -> None:
        b = self.config.buckets
        self.count = np.zeros(n, dtype=np.int64)
        self.level = np.full(n, np.nan)
        self.level_bar = np.zeros(n)
        self.slow = np.full(n, np.nan)
        self.shift = np.zeros(n)
        self.shift_bar = np.zeros(n)
        self.first_t = np.full(n, np.nan)
        self.profile = np.zeros((n, b))
        self.visits = np.zeros((n, b), dtype=np.int64)
        self.high = np.full((n, b), np.nan)
        self.low = np.full((n, b), np.nan)
        self.season_bar = np.zeros(n)
        self.level_seen = np.zeros(n)
        self.shift_seen = np.zeros(n)
        self.season_seen = np.zeros(n)
        lik = LikelihoodState.empty(n)
        self.lik_short, self.lik_mean, self.lik_var, self.lik_count = lik.short, lik.mean, lik.var, lik.count
        self.likelihood = np.zeros(n)
        self._raw = np.zeros(n)
        self._parts: dict[str, tuple[np.ndarray, ...]] = {}  # the last point, per channel, for --explain
        self._cache: tuple[int, FloatArray, FloatArray | None] = (0, np.zeros(n), None)
        self._near = (np.arange(b)[:, None] + np.array([-1, 0, 1])) % b  # buckets b-1, b, b+1, per b

    # -- helpers ------------------------------------------------------------------------------
    def _bucket(self, t: float) -> int:
        period = self.config.period
        return int((t % period) / period * self.config.buckets) % self.config.buckets

    def _season_expected(self, b: int, x: FloatArray) -> FloatArray:
        """The visited profile value nearest to ``x`` among buckets b-1, b, b+1 (the first on a tie).

        Daily jobs drift by a few minutes; without this tolerance a pattern that lands one bucket
        late looks like a fresh anomaly every day. Bucket b's own value where none is visited (or a
        distance is NaN). The three buckets are rows here: on an (n_series, 3) block numpy runs its
        inner loop once per series, which made this a fifth of a 10,000-series step.
        """
        near = self._near[b]
        means = self.profile.T[near]  # (3, n_series)
        dist = np.where(self.visits.T[near] > 0, np.abs(means - nan_to_num(x)), np.inf)
        nearest = np.minimum(np.minimum(dist[0], dist[1]), dist[2])  # NaN if any is, as argmin would pick
        chosen = np.where(dist[0] == nearest, means[0], np.where(dist[1] == nearest, means[1], means[2]))
        return np.where(np.isfinite(nearest), chosen, self.profile[:, b])

    def _shift_of(self, x: FloatArray) -> FloatArray:
        shift: FloatArray = self.shift + self.config.shift_alpha * (nan_to_num(x - self.slow) - self.shift)
        return shift

    # -- scoring ------------------------------------------------------------------------------
    def _deviation(self, t: float, x: FloatArray) -> Deviation:
        cfg = self.config
        b = self._bucket(t)
        margin = cfg.margin / cfg.sensitivity
        # fast level
        expected = self.level.copy()  # state arrays are updated in place after scoring
        half = margin * self.level_bar
        up, down, lower, upper = deviation_from_band(x, expected, half, half, cfg)
        self._parts = {"level": (up, down)}
        # sustained shift from the slow level
        shift = self._shift_of(x)
        self._cache = (b, shift, None)
        bar = np.maximum(cfg.shift_margin / cfg.sensitivity * self.shift_bar, self._shift_min_deviation())
        shift_score = np.where(self.shift_bar > 0, np.abs(shift) / np.maximum(bar, _TINY), 0.0)
        self._parts["shift"] = (shift, shift_score)
        up = np.where(shift > 0, np.maximum(up, shift_score), up)
        down = np.where(shift < 0, np.maximum(down, shift_score), down)
        # seasonal profile, once a full period has been seen
        active = (t - self.first_t >= cfg.period) & (self.visits[:, b] > 0)
        if active.any():
            s_expected = self._season_expected(b, x)
            self._cache = (b, shift, s_expected)
            half = cfg.season_margin / cfg.sensitivity * self.season_bar
            s_up, s_down, s_lower, s_upper = deviation_from_band(x, s_expected, half, half, cfg)
            self._parts["season"] = (active, s_up, s_down)
            either_up, either_down = np.maximum(up, s_up), np.maximum(down, s_down)
            if active.all():  # the usual case once a period has passed: nothing to select
                up, down, expected, lower, upper = either_up, either_down, s_expected, s_lower, s_upper
            else:
                up, down = np.where(active, either_up, up), np.where(active, either_down, down)
                expected = np.where(active, s_expected, expected)
                lower, upper = np.where(active, s_lower, lower), np.where(active, s_upper, upper)
            seen_before = active & (x <= self.high[:, b]) & (x >= self.low[:, b])
            up = np.where(seen_before, np.minimum(up, 1.0), up)
            down = np.where(seen_before, np.minimum(down, 1.0), down)
            self._parts["seen"] = (seen_before,)
        return Deviation(up, down, expected, lower, upper, self.count >= cfg.min_points)

    def _shift_min_deviation(self) -> float | FloatArray:
        """``minDeviation`` for the shift, relative to the slow level: only a relative one needs the level."""
        md = self.config.min_deviation
        if md.relative == 0:  # relative * |nan_to_num(slow)| is 0: the level is finite after nan_to_num
            return md.absolute
        min_dev: FloatArray = np.maximum(md.absolute, md.relative * np.abs(nan_to_num(self.slow)))
        return min_dev

    def _finish(self, x: FloatArray, dev: Deviation, invalid: BoolArray | None) -> FloatArray:
        """Gate marginal scores by the anomaly likelihood of the recent scores.

        A noisy series sits near its bars all day: a score just over 1 there is its normal, not an
        alarm, unless the last few scores are above what this series usually shows (Numenta's
        likelihood, ``detection.likelihood``). Clear crossings (>= ``MARGINAL``) always fire. A gated
        point is still kept out of the baseline like any other score over 1 (measured: learning it
        lost a NAB window).
        """
        raw = super()._finish(x, dev, invalid)
        lik = LikelihoodState(self.lik_short, self.lik_mean, self.lik_var, self.lik_count)
        self.likelihood = likelihood_step(lik, raw, dev.ready & np.isfinite(x))
        self.lik_short, self.lik_mean, self.lik_var, self.lik_count = lik.short, lik.mean, lik.var, lik.count
        self._raw = raw
        usual = (raw > 1.0) & (raw < MARGINAL) & (self.likelihood < UNUSUAL)
        return np.where(usual, 1.0, raw)

    def channel_scores(self) -> dict[str, FloatArray]:
        """Per channel (level, shift, season), its score for the last point, as combined into the
        final score (direction applied, capped at 1 where the bucket has seen the value before).

        What ``mlaiops detect --explain`` reports; computed on demand, so streaming pays nothing.
        """
        parts = self._parts
        shift, shift_score = parts["shift"]
        sides = {
            "level": parts["level"],
            "shift": (np.where(shift > 0, shift_score, 0.0), np.where(shift < 0, shift_score, 0.0)),
        }
        if "season" in parts:
            active, s_up, s_down = parts["season"]
            sides["season"] = (np.where(active, s_up, 0.0), np.where(active, s_down, 0.0))
        direction = self.config.direction
        out: dict[str, FloatArray] = {}
        for name, (up, down) in sides.items():
            score = up if direction == "up" else down if direction == "down" else np.maximum(up, down)
            out[name] = np.where(parts["seen"][0], np.minimum(score, 1.0), score) if "seen" in parts else score
        return out

    # -- learning -----------------------------------------------------------------------------
    def _after_score(self, t: float, x: FloatArray, usable: BoolArray, score: FloatArray) -> None:
        anomalous = self._raw > 1.0  # the gate decides what pages, not what the baseline learns
        self.streak = np.where(anomalous, self.streak + 1, 0)
        adapting = self.streak >= self.config.adapt_after
        self._update_bars(t, x, usable, anomalous & ~adapting)
        self._learn(t, x, usable & (~anomalous | adapting))

    def _update_bars(self, t: float, x: FloatArray, usable: BoolArray, flagged: BoolArray) -> None:
        """Bars and envelopes see every usable point (flagged ones with ``barLearn`` weight)."""
        cfg = self.config
        rows: slice | np.ndarray = slice(None) if usable.all() else np.flatnonzero(usable)
        xs, flag = x[rows], flagged[rows]
        if xs.size == 0:
            return
        some_flagged = flag if flag.any() else None
        b, shift, s_expected = self._cache
        decay = 0.5 ** (1.0 / cfg.memory)
        resid = nan_to_num(np.abs(xs - self.level[rows]))
        self.level_bar[rows], self.level_seen[rows] = _raise_bar(
            self.level_bar[rows] * decay,
            self.level_seen[rows] * decay,
            resid,
            some_flagged,
            cfg.bar_learn,
            cfg.repeat_margin,
        )
        self.shift_bar[rows], self.shift_seen[rows] = _raise_bar(
            self.shift_bar[rows] * decay,
            self.shift_seen[rows] * decay,
            np.abs(shift[rows]),
            some_flagged,
            cfg.bar_learn,
            cfg.repeat_margin,
        )
        self.shift[rows] = shift[rows]
        first_t = self.first_t[rows]
        self.first_t[rows] = np.where(np.isnan(first_t), t, first_t)
        season_bar = self.season_bar[rows] * decay
        season_seen = self.season_seen[rows] * decay
        if s_expected is not None:
            full_period = (t - self.first_t[rows]) >= cfg.period
            s_resid = np.where(self.visits[rows, b] > 0, np.abs(xs - s_expected[rows]), 0.0)
            raised, seen = _raise_bar(season_bar, season_seen, s_resid, some_flagged, cfg.bar_learn, cfg.repeat_margin)
            season_bar = np.where(full_period, raised, season_bar)
            season_seen = np.where(full_period, seen, season_seen)
        self.season_bar[rows] = season_bar
        self.season_seen[rows] = season_seen
        mean, high, low = self.profile[rows, b], self.high[rows, b], self.low[rows, b]
        keep = 1.0 - cfg.envelope_decay
        self.high[rows, b] = np.where(np.isnan(high), xs, np.maximum(xs, mean + (high - mean) * keep))
        self.low[rows, b] = np.where(np.isnan(low), xs, np.minimum(xs, mean + (low - mean) * keep))

    def _learn(self, t: float, x: FloatArray, mask: BoolArray) -> None:
        """Levels and the profile: the baseline, from accepted points only."""
        cfg = self.config
        rows: slice | np.ndarray = slice(None) if mask.all() else np.flatnonzero(mask)
        xs = x[rows]
        if xs.size == 0:
            return
        b = self._bucket(t)
        count = self.count[rows] + 1
        level, slow = self.level[rows], self.slow[rows]
        self.level[rows] = np.where(np.isnan(level), xs, level + cfg.alpha * (xs - level))
        slow_rate = np.maximum(cfg.slow_alpha, 1.0 / count)
        self.slow[rows] = np.where(np.isnan(slow), xs, slow + slow_rate * (xs - slow))
        visits = self.visits[rows, b]
        profile = self.profile[rows, b]
        rate = np.maximum(cfg.season_alpha, 1.0 / (visits + 1))
        self.profile[rows, b] = profile + rate * (xs - profile)
        self.visits[rows, b] = visits + 1
        self.count[rows] = count
