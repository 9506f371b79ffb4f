"""The canary-versus-stable tests, cross-checked against scipy on raw samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlaiops.rollout.judge import (
    bucket_counts,
    compare_error_rates,
    compare_latencies,
    normal_sf,
    proportion_worse_p,
    quantile_bound,
    rank_worse_p,
)

BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)


def binned(values: np.ndarray) -> list[float]:
    """Counts per bucket as the server's histogram keeps them (a value equal to a bound is in that bucket)."""
    return np.bincount(np.searchsorted(BOUNDS, values, side="left"), minlength=len(BOUNDS)).astype(float).tolist()


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
    ],
)
def test_the_proportion_test_matches_scipys_chi_square_on_the_same_table(
    canary: tuple[int, int], stable: tuple[int, int]
) -> None:
    # The 2x2 chi-square without continuity correction is z squared; its p-value is the two-sided one.
    (ce, cn), (se, sn) = canary, stable
    raw = np.concatenate([np.ones(ce), np.zeros(cn - ce)]), np.concatenate([np.ones(se), np.zeros(sn - se)])
    table = [[raw[0].sum(), len(raw[0]) - raw[0].sum()], [raw[1].sum(), len(raw[1]) - raw[1].sum()]]
    chi2, two_sided, _, _ = stats.chi2_contingency(table, correction=False)
    p = proportion_worse_p(ce, cn, se, sn)
    one_sided = two_sided / 2 if ce / cn > se / sn else 1 - two_sided / 2
    assert p == pytest.approx(one_sided, rel=1e-9, abs=1e-12)
    assert stats.norm.isf(p) ** 2 == pytest.approx(chi2, rel=1e-6)


def test_the_proportion_test_without_any_difference_to_see_is_no_evidence() -> None:
    assert proportion_worse_p(0, 100, 0, 100) == 1.0
    assert proportion_worse_p(100, 100, 100, 100) == 1.0
    assert proportion_worse_p(3, 0, 1, 100) == 1.0 and proportion_worse_p(3, 10, 0, 0) == 1.0


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
    p = proportion_worse_p(9, 300, 20, 1200)
    assert compare_error_rates(9, 300, 20, 1200, min_samples=50, alpha=p).verdict == "Successful"
    assert compare_error_rates(9, 300, 20, 1200, min_samples=50, alpha=p * 1.000001).verdict == "Failed"


def test_error_rates_decide_at_alpha_with_the_rates_in_the_message() -> None:
    worse = compare_error_rates(30, 300, 30, 1200, min_samples=50, alpha=0.001)
    assert worse.verdict == "Failed" and worse.p_value is not None and worse.p_value < 0.001
    assert worse.message.startswith("canary error rate 10.00% (30/300) vs stable 2.50% (30/1200) is higher")
    same = compare_error_rates(5, 300, 20, 1200, min_samples=50, alpha=0.001)
    assert same.verdict == "Successful"
    assert (
        same.message
        == f"canary error rate 1.67% (5/300) vs stable 1.67% (20/1200): one-sided p={same.p_value:.3g} >= alpha 0.001"
    )
    better = compare_error_rates(0, 300, 60, 1200, min_samples=50, alpha=0.001)
    assert better.verdict == "Successful"  # one-sided: a better canary never fails


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
