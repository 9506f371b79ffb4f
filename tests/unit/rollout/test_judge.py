"""The canary-versus-stable tests, cross-checked against scipy; the sequential one simulated under H0."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlaiops.rollout.judge import (
    ERROR_RATIO_PRIOR,
    bucket_counts,
    compare_error_rates,
    compare_latencies,
    error_evidence,
    exceedances,
    normal_sf,
    quantile_bound,
    sequential_slower_p,
    sequential_worse_p,
    slower_evidence,
)

BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)


def binned(values: np.ndarray) -> list[float]:
    """Counts per bucket as the server's histogram keeps them (a value equal to a bound is in that bucket)."""
    return np.bincount(np.searchsorted(BOUNDS, values, side="left"), minlength=len(BOUNDS)).astype(float).tolist()


def reference_ratio(ce: int, cn: int, se: int, sn: int, prior: tuple[tuple[float, float], ...]) -> float:
    """The mixture likelihood ratio from scipy's binomial pmf: which track each of the ce + se errors came from."""
    share = cn / (cn + sn)
    null = stats.binom.pmf(ce, ce + se, share)
    return sum(
        weight * stats.binom.pmf(ce, ce + se, ratio * share / (ratio * share + 1 - share)) / null
        for ratio, weight in prior
    )


@pytest.mark.parametrize(
    ("canary", "stable"),
    [
        ((12, 400), (20, 1200)),
        ((3, 50), (1, 150)),
        ((0, 80), (5, 90)),
        ((30, 300), (30, 300)),
        ((1, 1000), (9, 900)),
        ((1, 1), (2, 100)),
        ((3, 40), (0, 1)),
        ((40, 400), (12, 1200)),
        ((1, 100), (0, 100)),  # one error is already some evidence
    ],
)
def test_the_sequential_ratio_matches_scipys_binomial_likelihoods(
    canary: tuple[int, int], stable: tuple[int, int]
) -> None:
    (ce, cn), (se, sn) = canary, stable
    expected = reference_ratio(ce, cn, se, sn, ERROR_RATIO_PRIOR)
    assert math.exp(error_evidence(ce, cn, se, sn)) == pytest.approx(expected, rel=1e-9)
    assert sequential_worse_p(ce, cn, se, sn) == pytest.approx(min(1.0, 1.0 / expected), rel=1e-9)
    single = ((2.0, 1.0),)  # a point alternative is Wald's SPRT: its ratio in closed form
    q = 2 * cn / (2 * cn + sn)
    wald = (q * (cn + sn) / cn) ** ce * ((1 - q) * (cn + sn) / sn) ** se
    assert math.exp(error_evidence(ce, cn, se, sn, single)) == pytest.approx(wald, rel=1e-9)
    assert math.exp(error_evidence(ce, cn, se, sn, single)) == pytest.approx(reference_ratio(ce, cn, se, sn, single))


def test_the_prior_is_a_distribution_on_a_worse_canary() -> None:
    assert sum(weight for _, weight in ERROR_RATIO_PRIOR) == pytest.approx(1.0)
    assert all(ratio > 1 and weight > 0 for ratio, weight in ERROR_RATIO_PRIOR)
    assert max(ERROR_RATIO_PRIOR, key=lambda item: item[1]) == (2.0, 0.4)  # the design target: a doubled rate


def test_the_sequential_test_without_any_difference_to_see_is_no_evidence() -> None:
    assert error_evidence(0, 100, 0, 300) == 0.0  # no errors at all: a ratio of 1
    assert sequential_worse_p(0, 100, 0, 300) == 1.0
    assert error_evidence(3, 0, 1, 100) == 0.0 and error_evidence(3, 10, 0, 0) == 0.0  # a track without requests
    assert sequential_worse_p(3, 0, 1, 100) == 1.0
    # Nothing but errors on both tracks: each error comes from the canary exactly as often as its share says,
    # which is evidence for "same rate" (the ratio falls below 1), never against it.
    assert error_evidence(100, 100, 300, 300) < 0 and sequential_worse_p(100, 100, 300, 300) == 1.0
    assert sequential_worse_p(40, 40, 0, 60) < 1e-6  # all of the canary's requests failed, none of stable's


def test_the_sequential_test_is_one_sided_and_grows_with_the_evidence() -> None:
    assert sequential_worse_p(0, 300, 60, 1200) == 1.0  # a better canary never fails
    worse = [sequential_worse_p(2 * k, 100 * k, 3 * k, 300 * k) for k in (1, 2, 4, 16, 64)]  # twice stable's rate
    assert worse == sorted(worse, reverse=True) and worse[0] > 0.5 and worse[-1] < 1e-4
    # Fractional counts (increase() extrapolates) sit between their integer neighbours.
    assert (
        sequential_worse_p(10, 200, 5, 200)
        <= sequential_worse_p(9.5, 200, 5, 200)
        <= sequential_worse_p(9, 200, 5, 200)
    )
    # Huge counts neither overflow nor lose the answer.
    assert sequential_worse_p(2e6, 1e8, 1e6, 1e8) == 0.0 and sequential_worse_p(1e6, 1e8, 1e6, 1e8) == 1.0


def false_failures(rng: np.random.Generator, runs: int, rate: float, alpha: float, sequential: bool) -> float:
    """Share of identical canaries that fail at least one of 40 looks (every 30 s, traffic 25/50/75% on canary)."""
    shares = np.repeat([0.25, 0.5, 0.75], 40 // 3 + 1)[:40]
    requests_c = np.cumsum(rng.poisson(30 * 20 * shares, (runs, 40)), axis=1)
    requests_s = np.cumsum(rng.poisson(30 * 20 * (1 - shares), (runs, 40)), axis=1)
    errors_c = np.cumsum(rng.binomial(np.diff(requests_c, prepend=0), rate), axis=1)
    errors_s = np.cumsum(rng.binomial(np.diff(requests_s, prepend=0), rate), axis=1)
    failed = 0
    for ec, nc, es, ns in zip(errors_c, requests_c, errors_s, requests_s, strict=True):
        for look in range(40):
            args = (float(ec[look]), float(nc[look]), float(es[look]), float(ns[look]))
            if sequential:
                p = sequential_worse_p(*args)
            else:  # the naive alternative: a fixed-sample z-test at every look on the growing counts
                pooled = (args[0] + args[2]) / (args[1] + args[3])
                z = (args[0] / args[1] - args[2] / args[3]) / math.sqrt(
                    pooled * (1 - pooled) * (1 / args[1] + 1 / args[3])
                )
                p = normal_sf(z)
            if p < alpha:
                failed += 1
                break
    return failed / runs


def test_identical_canaries_fail_at_most_alpha_of_the_time_over_many_looks() -> None:
    # 40 looks at 20 req/s and a 5% error rate (about 1200 errors by the end): the sequential test stays
    # within alpha over all of them, where the same alpha used at every look by a fixed-sample test does not.
    alpha = 0.05
    sequential = false_failures(np.random.default_rng(11), 1500, 0.05, alpha, sequential=True)
    assert sequential <= alpha
    assert false_failures(np.random.default_rng(11), 1500, 0.05, alpha, sequential=False) > 2 * alpha
    # And it still sees a doubled rate: nearly every such canary fails by the last look.
    rng = np.random.default_rng(12)
    nc, ns = rng.poisson(3000, 200), rng.poisson(3000, 200)
    caught = np.mean(
        [
            sequential_worse_p(rng.binomial(c, 0.1), c, rng.binomial(s, 0.05), s) < alpha
            for c, s in zip(nc, ns, strict=True)
        ]
    )
    assert caught > 0.99


def lognormal_buckets(median: float, sigma: float, tail: float = 0.0) -> np.ndarray:
    """Each bucket's share of a log-normal latency whose slowest 3% are ``tail`` seconds slower (BOUNDS' buckets)."""
    finite = np.array(BOUNDS[:-1])
    below = stats.norm.cdf(np.log(finite / median) / sigma)
    cut = median * math.exp(1.8808 * sigma)  # the 97th percentile: beyond it, every request is ``tail`` slower
    below = np.where(
        finite >= cut + tail, stats.norm.cdf(np.log(np.maximum(finite - tail, 1e-12) / median) / sigma), below
    )
    below = np.where((finite >= cut) & (finite < cut + tail), 0.97, below)
    return np.diff(np.concatenate([[0.0], below, [1.0]]))


def test_exceedances_count_the_requests_slower_than_each_bound_but_the_last() -> None:
    assert exceedances([1.0, 2.0, 3.0, 4.0]) == [9.0, 7.0, 4.0]
    assert exceedances([5.0]) == [] and exceedances([]) == []


def test_each_bounds_evidence_is_the_error_rate_test_on_the_requests_slower_than_it() -> None:
    canary, stable = [0, 3, 40, 120, 30, 7], [2, 10, 200, 250, 30, 8]
    evidence = slower_evidence(canary, stable)
    assert len(evidence) == 5
    for index, value in enumerate(evidence):
        ce, se = sum(canary[index + 1 :]), sum(stable[index + 1 :])
        assert math.exp(value) == pytest.approx(reference_ratio(ce, 200, se, 500, ERROR_RATIO_PRIOR), rel=1e-9)
    # The p-value: 1 over the bounds' likelihood ratios averaged with equal weights, never above 1.
    mean = sum(math.exp(value) for value in evidence) / 5
    assert sequential_slower_p(canary, stable) == pytest.approx(1 / mean, rel=1e-12) and mean > 1
    assert sequential_slower_p(stable, canary) == 1.0  # the averaged ratio is below 1: evidence for "not slower"
    single = ((2.0, 1.0),)  # each bound's prior is used as given; an empty one is no evidence at all
    priors = [ERROR_RATIO_PRIOR, (), single, ((1.5, 0.5), (3.0, 0.5)), ERROR_RATIO_PRIOR]
    each = slower_evidence(canary, stable, priors)
    assert each[1] == -math.inf and (each[0], each[4]) == (evidence[0], evidence[4])
    for index in (2, 3):
        expected = reference_ratio(sum(canary[index + 1 :]), 200, sum(stable[index + 1 :]), 500, priors[index])
        assert math.exp(each[index]) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="3 and 2 buckets"):
        slower_evidence([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="4 priors for 5 bounds"):
        slower_evidence(canary, stable, priors[:4])


def test_the_latency_test_without_anything_to_compare_is_no_evidence() -> None:
    assert sequential_slower_p([0] * 14, [0] * 14) == 1.0  # empty buckets
    assert sequential_slower_p([0] * 13 + [5], [0] * 14) == 1.0  # a track without requests
    assert sequential_slower_p([7.0], [9.0]) == 1.0 and slower_evidence([7.0], [9.0]) == []  # one bucket: no bound
    assert sequential_slower_p([0, 5, 0], [0, 9, 0]) == 1.0  # every request in one bucket
    assert sequential_slower_p([0.5, 0, 0], [0, 0, 0.5]) == 1.0  # increase() can give fractions: one request in all


def test_the_latency_test_is_one_sided_and_sees_the_plus_inf_bucket() -> None:
    slow, fast = [0, 0, 0, 0, 0, 10, 40, 10] + [0] * 6, [0, 0, 0, 10, 40, 10, 0, 0] + [0] * 6
    assert sequential_slower_p(slow, fast) < 1e-8 and sequential_slower_p(fast, slow) == 1.0
    # Requests beyond the last finite bound count as slower than it (in the +Inf bucket, nothing is above).
    # Here only the bound of 10 s tells them apart: 20 of the canary's requests took longer, none of stable's.
    timeouts, slowest = [0, 0, 0, 0, 180] + [0] * 8 + [20], [0, 0, 0, 0, 180] + [0] * 7 + [20, 0]
    assert sequential_slower_p(timeouts, slowest) < 0.01 and sequential_slower_p(slowest, slowest) == 1.0
    # Fractional counts (increase() extrapolates) sit between their integer neighbours.
    stable = [0, 0, 0, 0, 200, 40, 4, 0, 0, 0, 0, 0, 0, 0]
    worse = [sequential_slower_p([0, 0, 0, 0, 100, 20, k, 0, 0, 0, 0, 0, 0, 0], stable) for k in (9, 9.5, 10)]
    assert worse == sorted(worse, reverse=True) and worse[0] > worse[2]


def latency_false_failures(rng: np.random.Generator, runs: int, alpha: float) -> float:
    """Share of identically slow canaries that fail at least one of 40 looks (every 30 s at 20 req/s, 25/50/75%)."""
    shares = np.repeat([0.25, 0.5, 0.75], 40 // 3 + 1)[:40]
    probabilities = lognormal_buckets(0.03, 0.5)
    failed = 0
    for _ in range(runs):
        canary, stable = np.zeros(len(BOUNDS)), np.zeros(len(BOUNDS))
        for share in shares:
            canary += rng.multinomial(rng.poisson(600 * share), probabilities)
            stable += rng.multinomial(rng.poisson(600 * (1 - share)), probabilities)
            if sequential_slower_p(canary.tolist(), stable.tolist()) < alpha:
                failed += 1
                break
    return failed / runs


def test_identically_slow_canaries_fail_at_most_alpha_of_the_time_over_many_looks() -> None:
    # The averaged ratio is a martingale under "same latency distribution": alpha holds over 40 looks and all 13
    # bounds together (1 in 400 here, where Ville's inequality allows 20; the bounds share their data).
    assert latency_false_failures(np.random.default_rng(21), 400, 0.05) <= 0.05 / 2


def test_the_latency_test_sees_a_slower_tail_and_a_slower_median() -> None:
    # What the canary and stable have served 5 minutes into the benchmark's rollout at 10 req/s (1275 and 1725).
    rng = np.random.default_rng(22)
    same = lognormal_buckets(0.03, 0.5)
    tail = lognormal_buckets(0.03, 0.5, tail=0.05)  # only the slowest 3% are 50 ms slower: the median is unchanged
    assert tail[:6].sum() == pytest.approx(same[:6].sum())  # below 50 ms nothing moved
    shifted = lognormal_buckets(0.08, 0.5 * 0.03 / 0.08)  # roughly every request 50 ms slower

    def caught(canary: np.ndarray) -> float:
        return float(
            np.mean(
                [
                    sequential_slower_p(rng.multinomial(1275, canary).tolist(), rng.multinomial(1725, same).tolist())
                    < 0.01
                    for _ in range(200)
                ]
            )
        )

    assert caught(tail) > 0.5 and caught(shifted) == 1.0 and caught(same) < 0.02


def test_cumulative_buckets_become_counts_and_an_extrapolated_dip_counts_as_zero() -> None:
    assert bucket_counts([(math.inf, 10.0), (0.1, 4.0), (0.05, 1.0)]) == [1.0, 3.0, 6.0]
    assert bucket_counts([(0.05, 2.0), (0.1, 1.9), (math.inf, 3.0)]) == [2.0, 0.0, 1.0]


def test_below_the_minimum_sample_size_the_answer_is_inconclusive_never_a_pass() -> None:
    result = compare_error_rates(40, 49, 0, 5000, min_samples=50, alpha=0.001)  # blatant, but 49 requests
    assert (result.verdict, result.p_value) == ("Inconclusive", None)
    assert result.message == "inconclusive: 49 canary and 5000 stable requests in the window, minSampleSize 50 of each"
    assert compare_latencies(BOUNDS, [0] * 13 + [60], [60] + [0] * 13, 61, 0.001).verdict == "Inconclusive"


def test_a_p_value_equal_to_alpha_passes() -> None:
    p = sequential_worse_p(30, 300, 30, 1200)
    assert 0 < p < 1
    assert compare_error_rates(30, 300, 30, 1200, min_samples=50, alpha=p).verdict == "Successful"
    assert compare_error_rates(30, 300, 30, 1200, min_samples=50, alpha=p * 1.000001).verdict == "Failed"


def test_error_rates_decide_at_alpha_with_the_rates_in_the_message() -> None:
    worse = compare_error_rates(30, 300, 30, 1200, min_samples=50, alpha=0.01)
    assert worse.verdict == "Failed" and worse.p_value == sequential_worse_p(30, 300, 30, 1200) < 0.01
    assert worse.message == (
        f"canary error rate 10.00% (30/300) vs stable 2.50% (30/1200) is higher: sequential p={worse.p_value:.3g} "
        "< alpha 0.01"
    )
    same = compare_error_rates(5, 300, 20, 1200, min_samples=50, alpha=0.01)
    assert same.verdict == "Successful" and same.p_value == 1.0
    assert same.message == "canary error rate 1.67% (5/300) vs stable 1.67% (20/1200): sequential p=1 >= alpha 0.01"
    better = compare_error_rates(0, 300, 60, 1200, min_samples=50, alpha=0.4)
    assert better.verdict == "Successful"  # one-sided: a better canary never fails
    assert compare_error_rates(0, 50, 0, 50, min_samples=50, alpha=0.4).verdict == "Successful"  # exactly the minimum


def test_latencies_decide_at_alpha_with_the_buckets_in_the_message() -> None:
    rng = np.random.default_rng(3)
    stable = binned(rng.lognormal(math.log(0.02), 0.4, 600))
    slow = binned(rng.lognormal(math.log(0.02), 0.4, 200) + 0.05)
    result = compare_latencies(BOUNDS, slow, stable, 50, 0.001)
    assert result.verdict == "Failed" and result.p_value == sequential_slower_p(slow, stable)
    assert result.message == (
        "canary slower than stable (canary p50 <= 100 ms, p99 <= 250 ms vs stable p50 <= 25 ms, p99 <= 100 ms "
        "(200 and 600 requests); slower than 50 ms: canary 100.0% (200), stable 1.3% (8); bounds weighted equally (no stable requests before the rollout)): "
        "sequential p=8.59e-76 "
        "< alpha 0.001"
    )
    same = compare_latencies(BOUNDS, binned(rng.lognormal(math.log(0.02), 0.4, 200)), stable, 50, 0.001)
    assert (same.verdict, same.p_value) == ("Successful", 1.0)
    assert same.message == (
        "canary p50 <= 25 ms, p99 <= 50 ms vs stable p50 <= 25 ms, p99 <= 100 ms (200 and 600 requests); bounds weighted equally (no stable requests before the rollout): "
        "sequential p=1 >= alpha 0.001"
    )
    # Some evidence, not enough: the bound that tells the tracks apart best is named all the same.
    some = compare_latencies(BOUNDS, [0] * 4 + [90, 5, 5] + [0] * 7, [0] * 4 + [190, 9, 1] + [0] * 7, 50, 0.01)
    assert some.verdict == "Successful" and some.message == (
        "canary p50 <= 25 ms, p99 <= 100 ms vs stable p50 <= 25 ms, p99 <= 50 ms (100 and 200 requests); "
        "slower than 50 ms: canary 5.0% (5), stable 0.5% (1); bounds weighted equally (no stable requests before the rollout): sequential p=0.772 >= alpha 0.01"
    )
    tail = compare_latencies(BOUNDS, [0, 0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 0, 10], [0] * 4 + [100] + [0] * 9, 50, 0.5)
    assert tail.message == (
        "canary slower than stable (canary p50 <= 25 ms, p99 <= +Inf vs stable p50 <= 25 ms, p99 <= 25 ms "
        "(100 and 100 requests); slower than 25 ms: canary 10.0% (10), stable 0.0% (0); bounds weighted equally (no stable requests before the rollout)): "
        "sequential p=0.0393 "
        "< alpha 0.5"
    )


def test_quantile_bounds_and_normal_tail() -> None:
    assert quantile_bound(BOUNDS, [0, 0, 5, 4] + [0] * 9 + [1], 0.5) == 0.005
    assert quantile_bound(BOUNDS, [0, 0, 5, 5] + [0] * 9 + [1], 0.5) == 0.01
    assert quantile_bound(BOUNDS, [0, 0, 5, 5] + [0] * 9 + [1], 0.99) == math.inf
    with pytest.raises(ValueError, match="3 bounds for 2 buckets: they must be the same"):
        quantile_bound((0.1, 0.2, math.inf), [1.0, 2.0], 0.5)
    assert normal_sf(0.0) == 0.5 and normal_sf(3.090232) == pytest.approx(0.001, rel=1e-5)
