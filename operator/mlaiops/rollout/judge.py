"""Is the canary worse than stable? One-sided tests on both tracks' counts over the same window, pure.

A fixed threshold cannot tell a canary that is worse than stable from one that is merely noisy, and
at low traffic it passes or fails on a handful of requests. These tests compare the two tracks
directly and answer ``Inconclusive`` (never a pass) until each track has served enough requests.

- error rate: a sequential test (a mixture likelihood ratio, always valid), so that every analysis
  run may look at the counts since the rollout began without inflating false rollbacks. Given how
  many errors both tracks made, each error came from the canary with probability pi (the canary's
  share of the requests) when both error rates are the same, and with q = rho*pi / (rho*pi + 1 - pi)
  when the canary's rate is rho times stable's. The likelihood ratio of these binomials, averaged over
  the prior ``ERROR_RATIO_PRIOR`` on rho, is a nonnegative martingale under "same rate", so by Ville's
  inequality it ever reaches 1/alpha with probability at most alpha, however often it is looked at
  (Wald's SPRT with a mixture alternative, as in Robbins 1970 and Johari et al., "Always valid
  inference", 2017). Its p-value, min(1, 1/ratio), is the always-valid p-value. pi is the share over the
  whole rollout while the weight changes between steps, so the martingale is approximate; the unit tests
  simulate many looks across 25/50/75% steps and find the false failures well within alpha.
- latency: the same test on the share of requests slower than each bucket bound of the latency histogram
  (what the histogram can say: ``le`` counts are exceedances). For one bound b, "slower than b" plays the part
  of "an error": a canary whose median moved shows at bounds near the median, one whose slowest few percent
  moved only at a bound in the tail (a rank test on the whole distribution misses that). The likelihood ratios
  of every bound but the last (+Inf: nothing is above it) are averaged with weights fixed before the canary
  served a request; an average of martingales on the same data with such weights is a martingale, so Ville's
  inequality bounds false failures by alpha over every look and every bound together (e-values are averaged,
  Vovk and Wang, "E-values: calibration, combination and applications", 2021). A bound's weight w costs the
  evidence it needs a factor 1/w (log 1/w nats): equal weights over K bounds (13 for the server's buckets) cost
  log K at the one bound where a slow tail shows.
- the weights: what matters for validity is WHEN they are fixed, not how. No bound may be picked from the data
  being tested: the bound that looks worst at each look is a new test each time, and one picked from stable's
  histogram during the rollout depends on the stable counts the test compares. Stable's own histogram over a
  window that ENDS when the rollout began (rollout/analysis.py's ``BEFORE_ROLLOUT``, 10 minutes) is data no
  canary request can influence: weights computed from it are known before the first look, and under "both
  tracks' latencies have the same distribution during the rollout" each bound's ratio is a martingale given
  anything known then (which track served a slow request does not depend on stable's past), hence so is their
  weighted average with those weights: alpha holds as before, whether or not the past resembles the present (a
  past unlike the present only costs power). They must be the same weights at every look that can decide: two
  weightings used at different looks are two tests (a union bound allows 2 alpha), so the controller makes a
  failed read of that window an Error, never equal weights for one look. ``bound_weights`` puts ``TAIL_SHARE``
  (half) of the weight on the bounds of the buckets holding stable's p95 and p99 before the rollout (where a
  slower tail shows; one bound holding both gets the whole half) and spreads the rest evenly over every bound,
  so a moved median costs log 2K nats instead of log K, and the tail bound log(1/(1/2 + 1/2K)) = 0.62 when it
  holds both quantiles (1.2 when they are in two buckets) instead of log K = 2.6. No stable request before the
  rollout (a new deployment, an idle model): equal weights, as before.

Only the standard library: ``math.erfc`` for the normal tail, ``math.log``/``math.exp`` for the ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["Successful", "Failed", "Inconclusive"]


@dataclass(frozen=True)
class Comparison:
    """The outcome of one test: the verdict, its p-value (None when inconclusive) and why, for people."""

    verdict: Verdict
    p_value: float | None
    message: str


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


ERROR_RATIO_PRIOR: tuple[tuple[float, float], ...] = ((1.25, 0.1), (1.5, 0.2), (2.0, 0.4), (3.0, 0.2), (5.0, 0.1))
"""The mixture's prior: (rho, weight), rho the canary's error rate as a multiple of stable's. Most weight on a
doubled rate (the design target); 1.25x to catch small changes at high traffic, 5x to catch gross ones on few
errors. benchmarks/canary_judge.py measures what it catches."""


def error_evidence(
    canary_errors: float,
    canary_total: float,
    stable_errors: float,
    stable_total: float,
    prior: Sequence[tuple[float, float]] = ERROR_RATIO_PRIOR,
) -> float:
    """Log of the mixture likelihood ratio "canary errs rho times as often" against "same rate"; 0 without evidence.

    Conditional on the errors seen, which track each came from: ``canary_errors`` of them from the canary,
    each with probability pi = canary's share of the requests under "same rate". Counts may be fractional
    (``increase()`` extrapolates).
    """
    if canary_total <= 0 or stable_total <= 0 or canary_errors + stable_errors <= 0:
        return 0.0  # a track without requests, or no errors at all: nothing tells the tracks apart
    share = canary_total / (canary_total + stable_total)
    logs = []
    for ratio, weight in prior:
        q = ratio * share / (ratio * share + 1.0 - share)
        logs.append(
            math.log(weight) + canary_errors * math.log(q / share) + stable_errors * math.log((1.0 - q) / (1.0 - share))
        )
    return _log_sum_exp(logs)


def _log_sum_exp(logs: Sequence[float]) -> float:
    """log(sum(exp(v))) without overflow."""
    top = max(logs)
    return top + math.log(sum(math.exp(value - top) for value in logs))


def sequential_worse_p(canary_errors: float, canary_total: float, stable_errors: float, stable_total: float) -> float:
    """Always-valid one-sided p-value that the canary's error rate exceeds stable's: min(1, 1/likelihood ratio)."""
    evidence = error_evidence(canary_errors, canary_total, stable_errors, stable_total)
    return math.exp(-max(evidence, 0.0))  # a ratio below 1 (evidence for "same rate") is p = 1, and cannot overflow


def bucket_counts(cumulative: Sequence[tuple[float, float]]) -> list[float]:
    """Requests per bucket from Prometheus's cumulative ``le`` counts (any order, +Inf included).

    ``increase()`` extrapolates, so a cumulative series may dip slightly: a negative difference counts as 0.
    """
    ordered = sorted(cumulative)
    counts, below = [], 0.0
    for _, total in ordered:
        counts.append(max(total - below, 0.0))
        below = max(below, total)
    return counts


def exceedances(counts: Sequence[float]) -> list[float]:
    """Requests slower than each bucket's upper bound, the last bucket's excepted (nothing is known above it)."""
    above, running = [], 0.0
    for count in reversed(counts[1:]):
        running += count
        above.append(running)
    return above[::-1]


def slower_evidence(
    canary: Sequence[float], stable: Sequence[float], prior: Sequence[tuple[float, float]] = ERROR_RATIO_PRIOR
) -> list[float]:
    """For each bucket bound, ``error_evidence`` that the canary's share of requests slower than it is higher.

    ``canary`` and ``stable`` are counts per bucket, aligned and in increasing order of the bucket bound.
    """
    if len(canary) != len(stable):
        raise ValueError(f"the tracks have {len(canary)} and {len(stable)} buckets: they must be the same")
    n1, n2 = sum(canary), sum(stable)
    return [error_evidence(c, n1, s, n2, prior) for c, s in zip(exceedances(canary), exceedances(stable), strict=True)]


TAIL_QUANTILES: tuple[float, ...] = (0.95, 0.99)
"""Stable's quantiles before the rollout whose buckets' bounds share ``TAIL_SHARE`` of the weight: a canary
whose slowest few percent got slower shows at bounds just above them."""
TAIL_SHARE = 0.5
"""The share of the weight on the tail bounds; the rest is spread evenly so that a moved median is still caught.
Measured with benchmarks/canary_judge.py's rollouts (500, seed 12, the same traffic for every split), caught within 5
minutes, the slowest 3% 50 ms slower / every request 5 ms slower: equal weights 63% / 68%, a share of 0.25 78% /
64%, 0.5 83% / 58%, 0.75 86% / 46%, 1 88% / 1%; half on p99 alone 83% / 58%, on p99 and p99.9 77% / 58%, on p90,
p99 and p99.9 80% / 58%. More than half buys the tail little and costs the median much."""


def _quantile_index(counts: Sequence[float], q: float) -> int:
    """The index of the bucket holding the q-quantile of these counts per bucket (which must not all be 0)."""
    total, running = sum(counts), 0.0
    for index, count in enumerate(counts):
        running += count
        if running >= q * total:
            return index
    return len(counts) - 1


def tail_bounds(before: Sequence[float], quantiles: Sequence[float] = TAIL_QUANTILES) -> list[int]:
    """The bounds (indexes, as ``exceedances``) holding each of ``quantiles`` of stable's counts per bucket before
    the rollout; a quantile in the last bucket counts at the last bound. Empty without requests or bounds."""
    if len(before) < 2 or sum(before) <= 0:
        return []
    return [min(_quantile_index(before, q), len(before) - 2) for q in quantiles]


def bound_weights(before: Sequence[float], tail_share: float = TAIL_SHARE) -> list[float]:
    """The weight of each bound (every bucket's but the last) from stable's counts per bucket over a window that
    ended when the rollout began: ``tail_share`` split evenly over ``tail_bounds``, the rest over every bound.

    Equal weights when stable served nothing then. They sum to 1 (module docstring: fixed before the canary's
    first request, they keep the averaged ratio a martingale)."""
    count = len(before) - 1
    if count < 1:
        return []  # a single bucket: no bound
    tails = tail_bounds(before)
    if not tails:
        return [1.0 / count] * count
    weights = [(1.0 - tail_share) / count] * count
    for index in tails:
        weights[index] += tail_share / len(tails)
    return weights


def _weighted(evidence: Sequence[float], weights: Sequence[float] | None) -> list[float]:
    """Each bound's log ratio plus the log of its weight (equal weights when None); a weight of 0 is -inf."""
    if weights is None:
        weights = [1.0 / len(evidence)] * len(evidence)
    if len(weights) != len(evidence):
        raise ValueError(f"{len(weights)} weights for {len(evidence)} bounds: they must be the same")
    if any(w < 0 for w in weights) or sum(weights) > 1.0 + 1e-9:
        raise ValueError(f"bound weights must be >= 0 and sum to at most 1, got {list(weights)}")
    return [value + math.log(w) if w > 0 else -math.inf for value, w in zip(evidence, weights, strict=True)]


def sequential_slower_p(
    canary: Sequence[float], stable: Sequence[float], weights: Sequence[float] | None = None
) -> float:
    """Always-valid one-sided p-value that the canary is slower: 1 / the weighted average of every bound's
    likelihood ratio (``weights`` per bound, as ``bound_weights`` returns them; equal when None).

    Each bound's ratio is a martingale when both tracks' latencies have the same distribution; so is their average
    with weights fixed before the rollout, hence Ville's inequality bounds the false failures by alpha over every
    look and every bound together (no bound is chosen from the data tested).
    """
    evidence = slower_evidence(canary, stable)
    if not evidence:
        return 1.0  # a single bucket: no bound to be slower than
    weighted = [value for value in _weighted(evidence, weights) if value > -math.inf]
    if not weighted:
        return 1.0  # every weight 0: no evidence counted
    return math.exp(-max(_log_sum_exp(weighted), 0.0))


def _too_few(canary: float, stable: float, min_samples: int) -> Comparison | None:
    if min(canary, stable) >= min_samples:
        return None
    message = (
        f"inconclusive: {canary:.0f} canary and {stable:.0f} stable requests in the window, "
        f"minSampleSize {min_samples} of each"
    )
    return Comparison("Inconclusive", None, message)


def _decide(p: float, alpha: float, worse: str, same: str) -> Comparison:
    if p < alpha:
        return Comparison("Failed", p, f"{worse}: sequential p={p:.3g} < alpha {alpha:g}")
    return Comparison("Successful", p, f"{same}: sequential p={p:.3g} >= alpha {alpha:g}")


def compare_error_rates(
    canary_errors: float,
    canary_total: float,
    stable_errors: float,
    stable_total: float,
    min_samples: int,
    alpha: float,
) -> Comparison:
    """Is the canary's error share higher than stable's? Counts since the rollout began; alpha bounds false
    failures over every evaluation of the rollout together (the sequential test), not each one."""
    if (few := _too_few(canary_total, stable_total, min_samples)) is not None:
        return few
    rates = (
        f"{canary_errors / canary_total:.2%} ({canary_errors:.0f}/{canary_total:.0f}) vs stable "
        f"{stable_errors / stable_total:.2%} ({stable_errors:.0f}/{stable_total:.0f})"
    )
    p = sequential_worse_p(canary_errors, canary_total, stable_errors, stable_total)
    return _decide(p, alpha, f"canary error rate {rates} is higher", f"canary error rate {rates}")


def quantile_bound(bounds: Sequence[float], counts: Sequence[float], q: float) -> float:
    """The upper bound of the bucket holding the q-quantile (what the histogram can say of it)."""
    if len(bounds) != len(counts):
        raise ValueError(f"{len(bounds)} bounds for {len(counts)} buckets: they must be the same")
    return bounds[_quantile_index(counts, q)]


def _shown(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound * 1000:g} ms"


def weights_note(bounds: Sequence[float], before: Sequence[float] | None) -> str:
    """How the bounds were weighted, for people: stable's tail bounds before the rollout, or equal and why."""
    tails = tail_bounds(before) if before is not None else []
    if not tails:
        return "bounds weighted equally (no stable requests before the rollout)"
    quantiles: dict[int, list[str]] = {}
    for index, q in zip(tails, TAIL_QUANTILES, strict=True):
        quantiles.setdefault(index, []).append(f"p{q * 100:g}")
    named = ", ".join(f"{_shown(bounds[index])} ({', '.join(names)})" for index, names in quantiles.items())
    return f"{TAIL_SHARE:.0%} of the weight on stable's tail before the rollout: {named}"


def compare_latencies(
    bounds: Sequence[float],
    canary: Sequence[float],
    stable: Sequence[float],
    min_samples: int,
    alpha: float,
    before: Sequence[float] | None = None,
) -> Comparison:
    """Are the canary's latencies larger than stable's over the same window? Counts per bucket of ``bounds``;
    ``before``: stable's counts per bucket over a window that ended when the rollout began (the bounds' weights,
    ``bound_weights``), None or all 0 for equal weights."""
    if (few := _too_few(sum(canary), sum(stable), min_samples)) is not None:
        return few
    summary = (
        f"canary p50 <= {_shown(quantile_bound(bounds, canary, 0.5))}, "
        f"p99 <= {_shown(quantile_bound(bounds, canary, 0.99))} vs stable p50 <= "
        f"{_shown(quantile_bound(bounds, stable, 0.5))}, p99 <= {_shown(quantile_bound(bounds, stable, 0.99))} "
        f"({sum(canary):.0f} and {sum(stable):.0f} requests)"
    )
    weights = bound_weights(before) if before is not None else None
    p = sequential_slower_p(canary, stable, weights)
    if p < 1.0:  # name the bound whose weighted ratio counts most in the average
        weighted = _weighted(slower_evidence(canary, stable), weights)
        worst = weighted.index(max(weighted))
        above_c, above_s = exceedances(canary)[worst], exceedances(stable)[worst]
        summary += (
            f"; slower than {_shown(bounds[worst])}: canary {above_c / sum(canary):.1%} ({above_c:.0f}), "
            f"stable {above_s / sum(stable):.1%} ({above_s:.0f})"
        )
    summary += f"; {weights_note(bounds, before)}"
    return _decide(p, alpha, f"canary slower than stable ({summary})", summary)
