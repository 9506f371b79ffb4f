"""Distribution drift scores between a reference and a current histogram over the same bins.

Pure numpy, no I/O: ``mlaiops drift``, the model server's profile and the AnomalyRule ``drift``
detector all call these, so a number seen on the command line is the number a rule fires on.

Inputs are bin *counts* (any non-negative numbers; they are normalised to proportions). For a
numeric feature the bins are ordered (the reference's quantile bins, open-ended at both ends); for a
categorical one they are categories in no order, which changes what ``ks`` and ``wasserstein`` mean
(see each function).

- ``psi``: population stability index, ``sum((c - r) * ln(c / r))`` over proportions, with every
  proportion floored at ``PSI_EPSILON`` (1e-4) so an empty bin gives a large, finite term.
  Conventions: < 0.1 stable, 0.1-0.25 moderate shift (warn), >= 0.25 drift.
- ``ks``: Kolmogorov-Smirnov statistic on the binned CDFs, the largest gap between the two
  cumulative proportions at the bin edges. Never above the KS statistic of the raw samples (it
  looks at fewer points) and equal to it when every distinct value has its own bin. Defaults 0.1
  warn, 0.2 drift (a D of 0.2 means a fifth of the mass sits on the other side of some edge).
- ``jensenShannon``: Jensen-Shannon *distance* (square root of the divergence) in base 2, so 0
  (same) .. 1 (disjoint); what ``scipy.spatial.distance.jensenshannon`` and Evidently report.
  Defaults 0.05 warn, 0.1 drift (Evidently's default threshold is 0.1).
- ``wasserstein``: earth mover's distance with bin ``i`` of ``k`` placed at ``i / (k - 1)``. For
  the reference's quantile bins that is the distance in the reference's own quantile scale: unit
  free and unchanged by any monotone rescaling of the feature, so one threshold fits every
  feature; 0 (same) .. 1 (all mass moved from the lowest bin to the highest). Defaults 0.05
  warn, 0.1 drift (Evidently's 0.1 on its std-normalised Wasserstein).

For a categorical feature ``ks`` and ``wasserstein`` are the total variation distance
``0.5 * sum(|c - r|)``: the largest difference in probability of any *set* of categories (KS over
every event instead of every half-line) and the earth mover's distance when any two categories are
1 apart. Both are 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

Method = Literal["psi", "ks", "jensenShannon", "wasserstein"]
METHODS: tuple[str, ...] = get_args(Method)
PSI_EPSILON = 1e-4
"""Floor of every proportion in PSI (an empty bin is treated as 0.01% of the mass)."""


@dataclass(frozen=True)
class Thresholds:
    """A score at or above ``drift`` is drift; at or above ``warn`` is a warning."""

    warn: float
    drift: float

    def __post_init__(self) -> None:
        if not 0 <= self.warn <= self.drift:
            raise ValueError(f"thresholds need 0 <= warn <= drift, got warn={self.warn} drift={self.drift}")


DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    "psi": Thresholds(0.1, 0.25),
    "ks": Thresholds(0.05, 0.1),
    "jensenShannon": Thresholds(0.05, 0.1),
    "wasserstein": Thresholds(0.05, 0.1),
}

Verdict = Literal["stable", "warn", "drift"]


def _proportions(counts: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(counts, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name}: no bins")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name}: bin counts must be finite and non-negative")
    total = array.sum()
    if total <= 0:
        raise ValueError(f"{name}: every bin is empty")
    return np.asarray(array / total, dtype=np.float64)


def _pair(reference: ArrayLike, current: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    ref, cur = _proportions(reference, "reference"), _proportions(current, "current")
    if ref.size != cur.size:
        raise ValueError(f"reference has {ref.size} bins, current has {cur.size}: score over the same bins")
    return ref, cur


def psi(reference: ArrayLike, current: ArrayLike) -> float:
    """Population stability index (proportions floored at ``PSI_EPSILON``)."""
    ref, cur = _pair(reference, current)
    ref, cur = np.maximum(ref, PSI_EPSILON), np.maximum(cur, PSI_EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def total_variation(reference: ArrayLike, current: ArrayLike) -> float:
    """Half the L1 distance between the proportions, 0..1."""
    ref, cur = _pair(reference, current)
    return float(min(1.0, 0.5 * np.abs(cur - ref).sum()))


def ks(reference: ArrayLike, current: ArrayLike, categorical: bool = False) -> float:
    """Largest gap between the binned CDFs (total variation for categories)."""
    if categorical:
        return total_variation(reference, current)
    ref, cur = _pair(reference, current)
    return float(min(1.0, np.max(np.abs(np.cumsum(cur) - np.cumsum(ref)))))


def jensen_shannon(reference: ArrayLike, current: ArrayLike) -> float:
    """Jensen-Shannon distance, base 2 (0..1)."""
    ref, cur = _pair(reference, current)
    mix = 0.5 * (ref + cur)

    def _kl(p: NDArray[np.float64]) -> float:
        mask = p > 0
        return float(np.sum(p[mask] * np.log2(p[mask] / mix[mask])))

    divergence = max(0.0, 0.5 * _kl(ref) + 0.5 * _kl(cur))
    return float(min(1.0, np.sqrt(divergence)))


def wasserstein(reference: ArrayLike, current: ArrayLike, categorical: bool = False) -> float:
    """Earth mover's distance with the k bins at 0, 1/(k-1), .., 1 (total variation for categories)."""
    if categorical:
        return total_variation(reference, current)
    ref, cur = _pair(reference, current)
    if ref.size < 2:
        return 0.0
    gaps = np.abs(np.cumsum(cur) - np.cumsum(ref))[:-1]
    return float(min(1.0, gaps.sum() / (ref.size - 1)))


def score(method: str, reference: ArrayLike, current: ArrayLike, categorical: bool = False) -> float:
    """The ``method`` score of ``current`` against ``reference`` (counts over the same bins)."""
    if method == "psi":
        return psi(reference, current)
    if method == "ks":
        return ks(reference, current, categorical)
    if method == "jensenShannon":
        return jensen_shannon(reference, current)
    if method == "wasserstein":
        return wasserstein(reference, current, categorical)
    raise ValueError(f"unknown drift method {method!r}; expected one of {', '.join(METHODS)}")


def verdict(value: float, thresholds: Thresholds) -> Verdict:
    """stable, warn or drift for a score."""
    if value >= thresholds.drift:
        return "drift"
    if value >= thresholds.warn:
        return "warn"
    return "stable"
