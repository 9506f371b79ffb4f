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
  (three quarters) of the weight on the bounds of the buckets holding stable's p95 and p99 before the rollout
  (where a slower tail shows; one bound holding both gets it all) and spreads the rest evenly over the bounds that
  can show a ratio of the prior (next point): a bound near the median costs log 4K' = 3.6 nats (K' such bounds, 9
  of the 13 for a 30 ms median) where equal weights cost log K = 2.6, but its prior no longer spends 70% of its
  weight on ratios it cannot show (1.2 nats back), and the tail bound costs log(1/(3/4 + 1/4K')) = 0.25 when it
  holds both quantiles instead of 2.6. No stable request before the rollout (a new deployment, an idle model): equal
  weights and the whole prior at every bound, as before.
- the priors: a bound's ratio is averaged over the ratios of ``ERROR_RATIO_PRIOR`` that bound can show. The canary's
  share of requests slower than b cannot pass 1, so where a share s of stable's requests was slower than b before
  the rollout, a ratio rho with rho * s > 1 describes no canary: below a 30 ms median (64% slower than 25 ms) only
  1.25 and 1.5 remain, and their weights are scaled up to sum to 1 (``admissible_prior``, ``bound_priors``); a bound
  that can show none (more than 80% of stable's requests slower than it: 1.25 * 0.8 = 1) gets no weight. Validity is the weights' argument again:
  each bound's prior is a distribution fixed from the window before the rollout, so each bound's mixture is a
  martingale under "same distribution" and so is their weighted average; the window only chooses which
  alternatives the evidence is spent on. It is what lets three quarters of the weight sit on the tail and still
  catch a 5 ms shift of every request more often than half did with every ratio at every bound (TAIL_SHARE's note).

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
    canary: Sequence[float], stable: Sequence[float], priors: Sequence[Sequence[tuple[float, float]]] | None = None
) -> list[float]:
    """For each bucket bound, ``error_evidence`` that the canary's share of requests slower than it is higher.

    ``canary`` and ``stable`` are counts per bucket, aligned and in increasing order of the bucket bound; ``priors``
    one prior on the ratio per bound (``bound_priors``), ``ERROR_RATIO_PRIOR`` at every bound when None. A bound
    with an empty prior has no evidence: -inf (a ratio of 0).
    """
    if len(canary) != len(stable):
        raise ValueError(f"the tracks have {len(canary)} and {len(stable)} buckets: they must be the same")
    above_c, above_s = exceedances(canary), exceedances(stable)
    if priors is None:
        priors = [ERROR_RATIO_PRIOR] * len(above_c)
    if len(priors) != len(above_c):
        raise ValueError(f"{len(priors)} priors for {len(above_c)} bounds: they must be the same")
    n1, n2 = sum(canary), sum(stable)
    return [
        error_evidence(c, n1, s, n2, prior) if prior else -math.inf
        for c, s, prior in zip(above_c, above_s, priors, strict=True)
    ]


def admissible_prior(
    share: float, prior: Sequence[tuple[float, float]] = ERROR_RATIO_PRIOR
) -> tuple[tuple[float, float], ...]:
    """The ratios of ``prior`` a bound can show, reweighted to sum to 1; empty when it can show none.

    ``share``: stable's share of requests slower than the bound before the rollout. The canary's share cannot pass
    1, so a ratio rho with rho * share > 1 is an alternative no canary can be: where 64% of stable's requests are
    slower than the bound (the bound below the median), "twice as many" is impossible, and the prior's weight on
    it would be spent for nothing. Only the weight moves, to ratios the bound can show."""
    kept = [(ratio, weight) for ratio, weight in prior if ratio * share <= 1.0]
    total = sum(weight for _, weight in kept)
    return tuple((ratio, weight / total) for ratio, weight in kept)


def bound_priors(before: Sequence[float]) -> list[tuple[tuple[float, float], ...]]:
    """Each bound's prior on the ratio from stable's counts per bucket over a window that ended when the rollout
    began: ``admissible_prior`` of stable's share slower than it then. ``ERROR_RATIO_PRIOR`` at every bound when
    stable served nothing then."""
    total = sum(before)
    above = exceedances(before)
    if total <= 0:
        return [ERROR_RATIO_PRIOR] * len(above)
    return [admissible_prior(count / total) for count in above]


TAIL_QUANTILES: tuple[float, ...] = (0.95, 0.99)
"""Stable's quantiles before the rollout whose buckets' bounds share ``TAIL_SHARE`` of the weight: a canary
whose slowest few percent got slower shows at bounds just above them."""
TAIL_SHARE = 0.75
"""The share of the weight on the tail bounds; the rest is spread evenly over the bounds that can show a ratio of
the prior (``bound_priors``), so that a moved median is still caught. Measured with benchmarks/canary_judge.py's
rollouts (500, seeds 12 and 13, the same traffic for every choice), caught within 5 minutes, the slowest 3% 50 ms
slower / every request 5 ms slower: with every ratio at every bound, a share of 0.5 83.4% / 61.6%; with only the
ratios a bound can show and the rest spread over the bounds that can show one, 0.5 83.4% / 81.6%, 0.75 86.4% /
73.0%; all the weight on the tail bounds (100 ms, where the tail shows, in nearly every window) with the true
ratio as the only alternative (a test told the answer) 88.8%. Earlier, with every ratio at every bound (seed 12):
equal weights 63% / 68%, 0.25 78% / 64%, 0.75 86% / 46%, 1 88% / 1%; half on p99 alone 83% / 58%, on p99 and
p99.9 77% / 58%, on p90, p99 and p99.9 80% / 58%."""


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
    ended when the rollout began: ``tail_share`` split evenly over ``tail_bounds``, the rest evenly over the bounds
    whose ``bound_priors`` is not empty (a bound that can show no ratio of the prior gets none of it).

    Equal weights when stable served nothing then. They sum to at most 1 (module docstring: fixed before the
    canary's first request, they keep the averaged ratio a martingale)."""
    count = len(before) - 1
    if count < 1:
        return []  # a single bucket: no bound
    tails = tail_bounds(before)
    if not tails:
        return [1.0 / count] * count
    live = [bool(prior) for prior in bound_priors(before)]
    spread = (1.0 - tail_share) / max(sum(live), 1)
    weights = [spread if shows else 0.0 for shows in live]
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
    canary: Sequence[float],
    stable: Sequence[float],
    weights: Sequence[float] | None = None,
    priors: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> float:
    """Always-valid one-sided p-value that the canary is slower: 1 / the weighted average of every bound's
    likelihood ratio (``weights`` per bound, as ``bound_weights`` returns them, equal when None; each bound's ratio
    averaged over its prior in ``priors``, as ``bound_priors`` returns them, ``ERROR_RATIO_PRIOR`` when None).

    Each bound's ratio is a martingale when both tracks' latencies have the same distribution; so is their average
    with weights and priors fixed before the rollout, hence Ville's inequality bounds the false failures by alpha
    over every look and every bound together (no bound is chosen from the data tested).
    """
    evidence = slower_evidence(canary, stable, priors)
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
    ``bound_weights``, and priors, ``bound_priors``), None or all 0 for equal weights and the whole prior at each."""
    if (few := _too_few(sum(canary), sum(stable), min_samples)) is not None:
        return few
    summary = (
        f"canary p50 <= {_shown(quantile_bound(bounds, canary, 0.5))}, "
        f"p99 <= {_shown(quantile_bound(bounds, canary, 0.99))} vs stable p50 <= "
        f"{_shown(quantile_bound(bounds, stable, 0.5))}, p99 <= {_shown(quantile_bound(bounds, stable, 0.99))} "
        f"({sum(canary):.0f} and {sum(stable):.0f} requests)"
    )
    weights = bound_weights(before) if before is not None else None
    priors = bound_priors(before) if before is not None else None
    p = sequential_slower_p(canary, stable, weights, priors)
    if p < 1.0:  # name the bound whose weighted ratio counts most in the average
        weighted = _weighted(slower_evidence(canary, stable, priors), weights)
        worst = weighted.index(max(weighted))
        above_c, above_s = exceedances(canary)[worst], exceedances(stable)[worst]
        summary += (
            f"; slower than {_shown(bounds[worst])}: canary {above_c / sum(canary):.1%} ({above_c:.0f}), "
            f"stable {above_s / sum(stable):.1%} ({above_s:.0f})"
        )
    summary += f"; {weights_note(bounds, before)}"
    return _decide(p, alpha, f"canary slower than stable ({summary})", summary)
