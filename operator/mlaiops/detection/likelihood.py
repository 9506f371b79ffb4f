"""Anomaly likelihood: how improbable is the recent level of a score, given its own history?

A raw residual score is not calibrated: a noisy series sits near its bar all day, a quiet one never
comes close. Numenta's answer (the step that lifted HTM on NAB) is to score each point by the tail
probability of the *short-window mean* of raw scores under a normal fitted to the *long-window*
distribution of those means: a single large score barely moves the short mean, a run of raised
scores (a variance burst, a shift the bars absorbed) moves it a lot.

Streaming and vectorised across series: both windows are exponential (``SHORT`` points, ``LONG``
half-life), so the state is four numbers per series. The ratio ``z / z_crit`` (``z`` the short
mean's standard score, ``z_crit`` that of the tail probability ``EPSILON``) is > 1 exactly when the
likelihood exceeds ``1 - EPSILON``.

``auto`` uses it as a gate: a score just over 1 fires only when the recent scores are unusual for
the series (measured on NAB: firing on the likelihood itself, as Numenta does, or as an extra
channel beside the score, only added false positives; see the README's NAB section).
``mlaiops detect --explain`` reports it beside each firing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from mlaiops.detection.base import BoolArray, FloatArray, nan_to_num

SHORT = 3.0
"""Points in the short window (Numenta averages 10; 3 measured better as ``auto``'s gate on NAB)."""
LONG = 2000.0
"""Half-life, in points, of the long-window mean and variance of the short means."""
EPSILON = 1e-5
"""Tail probability that counts as anomalous (likelihood >= 1 - EPSILON)."""
WARMUP = 300
"""Points before the long-window estimate is trusted (Numenta: about 388)."""
MIN_STD = 0.05
"""Floor on the long-window spread, in raw-score units: a flat history does not make noise a page."""
CLIP = 2.0
"""Raw scores are clipped here first: one huge outlier must not inflate the long-window spread."""


def z_critical(epsilon: float = EPSILON) -> float:
    """Standard score whose upper tail probability is ``epsilon``."""
    return NormalDist().inv_cdf(1.0 - epsilon)


_Z_CRIT = z_critical()


def tail_probability(ratio: FloatArray, epsilon: float = EPSILON) -> FloatArray:
    """Upper tail probability of a likelihood ratio (``z / z_crit``); 1 - it is the likelihood."""
    z = np.asarray(ratio, dtype=np.float64) * z_critical(epsilon)
    return np.asarray([0.5 * math.erfc(v / math.sqrt(2.0)) for v in np.ravel(z)]).reshape(z.shape)


@dataclass
class LikelihoodState:
    """Per-series state: the short mean and the long-window mean and variance of short means."""

    short: FloatArray
    mean: FloatArray
    var: FloatArray
    count: NDArray[np.int64]

    @classmethod
    def empty(cls, n: int) -> LikelihoodState:
        return cls(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64))


def likelihood_step(state: LikelihoodState, raw: FloatArray, usable: BoolArray) -> FloatArray:
    """Ratio score of ``raw`` (one per series), then fold it into ``state`` where ``usable``.

    The new short mean is judged against the long-window estimate from earlier points only.
    """
    r = np.minimum(nan_to_num(raw), CLIP)
    short = state.short + (r - state.short) / SHORT
    std = np.maximum(np.sqrt(state.var), MIN_STD)
    z = (short - state.mean) / std
    ratio = np.where(state.count >= WARMUP, np.maximum(z, 0.0) * (1.0 / _Z_CRIT), 0.0)
    count = state.count + 1
    rate = np.maximum(1.0 - 0.5 ** (1.0 / LONG), 1.0 / count)
    dev = short - state.mean
    mean = state.mean + rate * dev
    var = (1.0 - rate) * (state.var + rate * dev * dev)
    if usable.all():  # the common case: no masking needed
        state.short, state.mean, state.var, state.count = short, mean, var, count
    else:
        state.short = np.where(usable, short, state.short)
        state.mean = np.where(usable, mean, state.mean)
        state.var = np.where(usable, var, state.var)
        state.count = np.where(usable, count, state.count)
    return np.asarray(ratio, dtype=np.float64)


def likelihoods(scores: FloatArray) -> FloatArray:
    """Likelihood (1 - tail probability) of every point of a (n_series, n_points) block of scores,
    each computed from that point and earlier ones only (the streaming rule above, from scratch)."""
    block = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    state = LikelihoodState.empty(block.shape[0])
    ratios = np.empty(block.shape)
    for i in range(block.shape[1]):
        ratios[:, i] = likelihood_step(state, block[:, i], np.isfinite(block[:, i]))
    return 1.0 - tail_probability(ratios)
