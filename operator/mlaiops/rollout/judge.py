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
  moved only at a bound in the tail (a rank test on the whole distribution misses that). No bound is picked
  from the data: picking the one that looks worst is a test per bound, and picking it from stable's own
  histogram ties the choice to stable's counts. The likelihood ratios of every bound but the last (+Inf: nothing
  is above it) are averaged with equal weights fixed in advance; an average of martingales on the same data is a
  martingale, so Ville's inequality bounds false failures by alpha over every look and every bound together
  (e-values are averaged, Vovk and Wang, "E-values: calibration, combination and applications", 2021). The cost:
  the bound that shows the change needs K times the evidence (K bounds, 13 for the server's buckets), log K
  nats; the unit tests and benchmarks/canary_judge.py measure what that leaves.

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


def sequential_slower_p(canary: Sequence[float], stable: Sequence[float]) -> float:
    """Always-valid one-sided p-value that the canary is slower: 1 / the average of every bound's likelihood ratio.

    Each bound's ratio is a martingale when both tracks' latencies have the same distribution; so is their average
    with equal weights fixed in advance, hence Ville's inequality bounds the false failures by alpha over every look
    and every bound together (no bound is chosen from the data).
    """
    evidence = slower_evidence(canary, stable)
    if not evidence:
        return 1.0  # a single bucket: no bound to be slower than
    return math.exp(-max(_log_sum_exp(evidence) - math.log(len(evidence)), 0.0))


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
    total = sum(counts)
    running = 0.0
    for bound, count in zip(bounds, counts, strict=True):
        running += count
        if running >= q * total:
            return bound
    return bounds[-1]


def compare_latencies(
    bounds: Sequence[float],
    canary: Sequence[float],
    stable: Sequence[float],
    min_samples: int,
    alpha: float,
) -> Comparison:
    """Are the canary's latencies larger than stable's over the same window? Counts per bucket of ``bounds``."""
    if (few := _too_few(sum(canary), sum(stable), min_samples)) is not None:
        return few

    def shown(bound: float) -> str:
        return "+Inf" if math.isinf(bound) else f"{bound * 1000:g} ms"

    summary = (
        f"canary p50 <= {shown(quantile_bound(bounds, canary, 0.5))}, p99 <= {shown(quantile_bound(bounds, canary, 0.99))}"
        f" vs stable p50 <= {shown(quantile_bound(bounds, stable, 0.5))}, p99 <= "
        f"{shown(quantile_bound(bounds, stable, 0.99))} ({sum(canary):.0f} and {sum(stable):.0f} requests)"
    )
    p = sequential_slower_p(canary, stable)
    if p < 1.0:  # name the bound that tells the tracks apart best
        evidence = slower_evidence(canary, stable)
        worst = evidence.index(max(evidence))
        above_c, above_s = exceedances(canary)[worst], exceedances(stable)[worst]
        summary += (
            f"; slower than {shown(bounds[worst])}: canary {above_c / sum(canary):.1%} ({above_c:.0f}), "
            f"stable {above_s / sum(stable):.1%} ({above_s:.0f})"
        )
    return _decide(p, alpha, f"canary slower than stable ({summary})", summary)
