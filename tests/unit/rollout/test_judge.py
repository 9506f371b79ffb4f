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
    normal_sf,
    quantile_bound,
    rank_worse_p,
    sequential_worse_p,
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


def test_the_rank_test_matches_scipys_mann_whitney_on_the_bucketed_samples() -> None:
    rng = np.random.default_rng(7)
    for shift in (0.0, 0.005, 0.02, 0.05):
        stable = rng.lognormal(math.log(0.02), 0.6, 700)
        canary = rng.lognormal(math.log(0.02), 0.6, 250) + shift
        # On the bucket indices (every request of a bucket tied) scipy must agree exactly.
        expected = stats.mannwhitneyu(
            np.searchsorted(BOUNDS, canary), np.searchsorted(BOUNDS, stable), alternative="greater", method="asymptotic"
        ).pvalue
        assert rank_worse_p(binned(canary), binned(stable)) == pytest.approx(expected, rel=1e-9, abs=1e-15)
        # And the buckets lose little against the raw, unbinned samples: same decision at 0.001.
        raw = stats.mannwhitneyu(canary, stable, alternative="greater").pvalue
        assert (raw < 0.001) == (rank_worse_p(binned(canary), binned(stable)) < 0.001), shift


def test_the_rank_test_is_one_sided() -> None:
    slow, fast = [0, 0, 0, 0, 0, 10, 40, 10] + [0] * 6, [0, 0, 0, 10, 40, 10, 0, 0] + [0] * 6
    assert rank_worse_p(slow, fast) < 1e-6 and rank_worse_p(fast, slow) > 1 - 1e-6


def test_the_rank_test_without_order_or_data_is_no_evidence() -> None:
    assert rank_worse_p([0, 5, 0], [0, 9, 0]) == 1.0  # all in one bucket
    assert rank_worse_p([0, 0, 0], [0, 9, 0]) == 1.0 and rank_worse_p([4, 5, 0], [0, 0, 0]) == 1.0
    assert rank_worse_p([0.5, 0, 0], [0, 0, 0.5]) == 1.0  # increase() can give fractions: one request in all


def test_the_rank_test_on_the_smallest_samples_matches_scipy() -> None:
    for canary, stable in (([0, 0, 1], [1, 0, 0]), ([0, 1, 0], [5, 4, 0]), ([0, 3, 2], [0, 0, 1])):
        expand = [np.repeat(np.arange(3), counts) for counts in (canary, stable)]
        expected = stats.mannwhitneyu(*expand, alternative="greater", method="asymptotic").pvalue
        assert rank_worse_p(canary, stable) == pytest.approx(expected, rel=1e-12), (canary, stable)
    assert rank_worse_p([0, 0, 1], [1, 0, 0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="3 and 2 buckets"):
        rank_worse_p([1, 2, 3], [1, 2])


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
    assert result.verdict == "Failed" and result.message.startswith(
        "canary slower than stable (canary p50 <= 100 ms, p99 <= 250 ms vs stable p50 <= 25 ms, p99 <= 100 ms "
        "(200 and 600 requests)): one-sided p="
    )
    assert "(200 and 600 requests)" in result.message
    same = compare_latencies(BOUNDS, binned(rng.lognormal(math.log(0.02), 0.4, 200)), stable, 50, 0.001)
    assert same.verdict == "Successful" and same.message.startswith("canary p50 <= 25 ms")
    tail = compare_latencies(BOUNDS, [0, 0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 0, 10], [0] * 4 + [100] + [0] * 9, 50, 0.5)
    assert tail.message.startswith(
        "canary slower than stable (canary p50 <= 25 ms, p99 <= +Inf vs stable p50 <= 25 ms, p99 <= 25 ms "
        "(100 and 100 requests)): one-sided p="
    )


def test_quantile_bounds_and_normal_tail() -> None:
    assert quantile_bound(BOUNDS, [0, 0, 5, 4] + [0] * 9 + [1], 0.5) == 0.005
    assert quantile_bound(BOUNDS, [0, 0, 5, 5] + [0] * 9 + [1], 0.5) == 0.01
    assert quantile_bound(BOUNDS, [0, 0, 5, 5] + [0] * 9 + [1], 0.99) == math.inf
    assert normal_sf(0.0) == 0.5 and normal_sf(3.090232) == pytest.approx(0.001, rel=1e-5)
