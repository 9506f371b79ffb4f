"""latency-vs-stable's bound weights and priors from stable's histogram before the rollout: what they are, that the
weighted test keeps alpha over many looks (both are fixed before the canary's first request), and what they buy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from mlaiops.rollout.judge import (
    ERROR_RATIO_PRIOR,
    TAIL_QUANTILES,
    TAIL_SHARE,
    admissible_prior,
    bound_priors,
    bound_weights,
    compare_latencies,
    sequential_slower_p,
    slower_evidence,
    tail_bounds,
    weights_note,
)
from tests.unit.rollout.test_judge import BOUNDS, lognormal_buckets

# Stable before the rollout: median 30 ms, sigma 0.5 (p95 68 ms and p99 96 ms, both in the 100 ms bucket).
BEFORE = [0, 0, 1, 83, 2062, 2933, 873, 48, 0, 0, 0, 0, 0, 0]  # 6000 requests, lognormal_buckets(0.03, 0.5)


def test_the_tail_bounds_hold_stables_p95_and_p99_before_the_rollout() -> None:
    assert (TAIL_QUANTILES, TAIL_SHARE) == ((0.95, 0.99), 0.75)
    assert tail_bounds(BEFORE) == [6, 6]  # both in the bucket up to 100 ms (BOUNDS[6])
    # p95 = the 95th request of 100 (the bucket that reaches it), p99 = the 99th.
    assert tail_bounds([90, 5, 4, 1]) == [1, 2] and tail_bounds([90, 4, 5, 1]) == [2, 2]
    assert tail_bounds([94, 1, 5]) == [1, 1]  # the p99 in the last bucket counts at the last bound
    assert tail_bounds([1, 0, 0, 0, 99]) == [3, 3]
    assert tail_bounds([3.0, 1.0]) == [0, 0]  # one bound: it holds the tail
    assert tail_bounds([0, 1, 0]) == [1, 1] and tail_bounds([0, 0.5, 0]) == [1, 1]  # one request, or half of one
    assert tail_bounds([0, 0, 0]) == [] and tail_bounds([4.0]) == [] and tail_bounds([]) == []
    assert tail_bounds([80, 20, 0], (0.5, 0.9)) == [0, 1]


def near(prior: Sequence[tuple[float, float]], expected: Sequence[tuple[float, float]]) -> bool:
    """The same ratios, with the same weights up to rounding."""
    return [ratio for ratio, _ in prior] == [ratio for ratio, _ in expected] and [w for _, w in prior] == pytest.approx(
        [w for _, w in expected]
    )


def test_a_bound_keeps_the_ratios_it_can_show_reweighted() -> None:
    # A share s of stable's requests slower than the bound: the canary's share rho * s cannot pass 1.
    assert near(admissible_prior(0.0), ERROR_RATIO_PRIOR) and admissible_prior(0.2) == admissible_prior(0.0)
    assert near(admissible_prior(0.5), ((1.25, 0.1 / 0.7), (1.5, 0.2 / 0.7), (2.0, 0.4 / 0.7)))  # 2 * 0.5 = 1: kept
    assert near(admissible_prior(0.5001), ((1.25, 1 / 3), (1.5, 2 / 3)))
    assert near(admissible_prior(0.66), ((1.25, 1 / 3), (1.5, 2 / 3)))  # the bound below a 30 ms median
    assert admissible_prior(0.7) == ((1.25, 1.0),) and admissible_prior(0.81) == ()
    assert admissible_prior(0.3, ((2.0, 0.25), (3.0, 0.25), (4.0, 0.5))) == ((2.0, 0.5), (3.0, 0.5))
    assert admissible_prior(1.0, ((1.0, 0.4),)) == ((1.0, 1.0),)


def test_each_bounds_prior_comes_from_stables_share_slower_than_it_before_the_rollout() -> None:
    priors = bound_priors(BEFORE)
    assert len(priors) == 13 and priors[:4] == [()] * 4  # 1 to 10 ms: 98.6% or more of stable's requests slower
    assert priors[4] == admissible_prior(3854 / 6000) and near(priors[4], ((1.25, 1 / 3), (1.5, 2 / 3)))  # 25 ms: 64%
    assert priors[5] == admissible_prior(921 / 6000) and all(prior == priors[5] for prior in priors[5:])
    assert near(priors[5], ERROR_RATIO_PRIOR)  # 15% at 50 ms, less above: every ratio can show
    assert bound_priors([1, 8, 1]) == [(), admissible_prior(0.1)] and near(
        bound_priors([1, 8, 1])[1], ERROR_RATIO_PRIOR
    )
    assert bound_priors([0.0, 0.5, 0.5]) == [(), admissible_prior(0.5)]  # increase() can give half a request
    # No stable requests before the rollout: the whole prior at every bound.
    assert bound_priors([0.0] * 4) == [ERROR_RATIO_PRIOR] * 3 and bound_priors([5.0]) == [] == bound_priors([])


def test_the_tail_bounds_get_three_quarters_the_rest_goes_to_the_bounds_that_can_show_a_ratio() -> None:
    weights = bound_weights(BEFORE)
    assert len(weights) == 13 and sum(weights) == pytest.approx(1.0)
    assert weights[:4] == [0.0] * 4 and weights[6] == pytest.approx(0.75 + 0.25 / 9)  # 9 bounds can show a ratio
    assert all(w == pytest.approx(0.25 / 9) for w in weights[4:6] + weights[7:])
    split = bound_weights([90, 5, 4, 1])  # p95 and p99 in different buckets: 3/8 each
    assert split == pytest.approx([0.25 / 3, 0.25 / 3 + 0.375, 0.25 / 3 + 0.375])
    assert bound_weights([90, 5, 4, 1], tail_share=0.2) == pytest.approx([0.8 / 3, 0.8 / 3 + 0.1, 0.8 / 3 + 0.1])
    assert bound_weights([10, 80, 10]) == pytest.approx([0.0, 1.0])  # 90% slower than the first bound: none of it
    assert bound_weights([1, 0, 99]) == pytest.approx([0.0, 0.75])  # no bound can show a ratio: only the tail's
    # No stable requests before the rollout (a new deployment, an idle model): equal weights.
    assert bound_weights([0.0] * 4) == pytest.approx([1 / 3] * 3) and bound_weights([0.0, 0.0]) == [1.0]
    assert bound_weights([5.0]) == [] and bound_weights([]) == []


def test_the_p_value_is_one_over_the_weighted_average_of_the_bounds_ratios() -> None:
    canary, stable = [0, 3, 40, 120, 30, 7], [2, 10, 200, 250, 30, 8]
    ratios = [math.exp(value) for value in slower_evidence(canary, stable)]
    weights = [0.1, 0.0, 0.2, 0.6, 0.1]
    expected = 1 / sum(w * r for w, r in zip(weights, ratios, strict=True))
    assert sequential_slower_p(canary, stable, weights) == pytest.approx(expected, rel=1e-12)
    assert sequential_slower_p(canary, stable, [0.2] * 5) == pytest.approx(sequential_slower_p(canary, stable))
    assert sequential_slower_p(canary, stable, [0, 0, 0, 1, 0]) == pytest.approx(1 / ratios[3], rel=1e-12)
    assert sequential_slower_p(canary, stable, [0.0] * 5) == 1.0  # nothing weighted: no evidence
    assert sequential_slower_p(canary, stable, [0.1] * 5) == pytest.approx(1 / (0.1 * sum(ratios)), rel=1e-12)
    with pytest.raises(ValueError, match="4 weights for 5 bounds"):
        sequential_slower_p(canary, stable, [0.25] * 4)
    with pytest.raises(ValueError, match="sum to at most 1"):
        sequential_slower_p(canary, stable, [0.3] * 5)  # more than 1 would inflate the ratio: no longer valid
    with pytest.raises(ValueError, match="must be >= 0"):
        sequential_slower_p(canary, stable, [-0.1, 0.3, 0.3, 0.3, 0.2])
    assert sequential_slower_p(canary, stable, [0, 0, 0, 1.0 + 1e-9, 0]) == pytest.approx(1 / ratios[3])  # rounding
    assert sequential_slower_p([7.0], [9.0], []) == 1.0


def weighted_false_failures(rng: np.random.Generator, runs: int, alpha: float, weights_of: str) -> float:
    """Share of identically slow canaries failing one of 40 looks (every 30 s at 20 req/s, 25/50/75%), the bounds
    weighted by a fresh pre-rollout window of stable (``before``) or all on the one bound a slow tail shows at."""
    shares = np.repeat([0.25, 0.5, 0.75], 40 // 3 + 1)[:40]
    probabilities = lognormal_buckets(0.03, 0.5)
    failed = 0
    for _ in range(runs):
        priors = None
        if weights_of == "before":
            before = rng.multinomial(12000, probabilities).tolist()
            weights, priors = bound_weights(before), bound_priors(before)
        else:  # the sharpest weights there are: every bit on 100 ms (valid all the same: fixed in advance)
            weights = [0.0] * 6 + [1.0] + [0.0] * 6
        canary, stable = np.zeros(len(BOUNDS)), np.zeros(len(BOUNDS))
        for share in shares:
            canary += rng.multinomial(rng.poisson(600 * share), probabilities)
            stable += rng.multinomial(rng.poisson(600 * (1 - share)), probabilities)
            if sequential_slower_p(canary.tolist(), stable.tolist(), weights, priors) < alpha:
                failed += 1
                break
    return failed / runs


@pytest.mark.parametrize(("weights_of", "seed"), [("before", 31), ("one bound", 32)])
def test_weights_fixed_before_the_rollout_keep_alpha_over_many_looks(weights_of: str, seed: int) -> None:
    # The weighted average of the bounds' martingales is a martingale when the weights and priors are known at the
    # first look; Ville's inequality then allows alpha (0.05: 20 of 400) over 40 looks and 13 bounds together.
    assert weighted_false_failures(np.random.default_rng(seed), 400, 0.05, weights_of) <= 0.05


def test_stables_tail_before_the_rollout_catches_a_slower_tail_more_often() -> None:
    # 5 minutes into the benchmark's rollout at 10 req/s (1275 canary and 1725 stable requests), after 10 minutes
    # of stable alone (6000 requests) to weigh the bounds by. The same draws judged each way.
    rng = np.random.default_rng(33)
    same = lognormal_buckets(0.03, 0.5)
    tail = lognormal_buckets(0.03, 0.5, tail=0.05)
    shifted = lognormal_buckets(0.08, 0.5 * 0.03 / 0.08)
    nudged = lognormal_buckets(0.035, 0.5 * 0.03 / 0.035)  # every request about 5 ms slower
    caught: dict[str, list[bool]] = {
        name: [] for name in ("tail", "tail equal", "shift", "nudge", "nudge every ratio", "nudge equal")
    }
    for _ in range(300):
        before = rng.multinomial(6000, same).tolist()
        weights, priors = bound_weights(before), bound_priors(before)
        stable = rng.multinomial(1725, same).tolist()
        slow_tail, slow_all = rng.multinomial(1275, tail).tolist(), rng.multinomial(1275, shifted).tolist()
        slow_bit = rng.multinomial(1275, nudged).tolist()
        caught["tail"].append(sequential_slower_p(slow_tail, stable, weights, priors) < 0.01)
        caught["tail equal"].append(sequential_slower_p(slow_tail, stable) < 0.01)
        caught["shift"].append(sequential_slower_p(slow_all, stable, weights, priors) < 0.01)
        caught["nudge"].append(sequential_slower_p(slow_bit, stable, weights, priors) < 0.01)
        caught["nudge every ratio"].append(sequential_slower_p(slow_bit, stable, weights) < 0.01)
        caught["nudge equal"].append(sequential_slower_p(slow_bit, stable) < 0.01)
    rates = {name: float(np.mean(values)) for name, values in caught.items()}
    assert rates["tail"] >= rates["tail equal"] + 0.15 and rates["tail"] > 0.85
    assert rates["shift"] == 1.0
    # Only the ratios a bound can show: the weight on the tail costs a small shift of every request less than
    # what the priors' impossible ratios cost it.
    assert rates["nudge"] >= rates["nudge every ratio"] + 0.1 and rates["nudge"] >= rates["nudge equal"] - 0.05


def test_the_message_names_the_weighted_bound_that_counts_most_and_the_tail_bounds() -> None:
    # Equal weights name 50 ms (the largest ratio); stable's tail before the rollout was at 100 ms, so the
    # 100 ms bound (three quarters of the weight) counts most in the weighted average and is the one named.
    canary = [0, 0, 0, 0, 150, 30, 12, 8] + [0] * 6
    stable = [0, 0, 0, 0, 350, 40, 8, 2] + [0] * 6
    equal = compare_latencies(BOUNDS, canary, stable, 50, 0.01)
    assert "; slower than 50 ms: canary 10.0% (20), stable 2.5% (10); bounds weighted equally" in equal.message
    weighted = compare_latencies(BOUNDS, canary, stable, 50, 0.01, BEFORE)
    assert weighted.p_value == sequential_slower_p(canary, stable, bound_weights(BEFORE), bound_priors(BEFORE))
    assert weighted.p_value != sequential_slower_p(canary, stable, bound_weights(BEFORE))  # the priors count
    # The bound named is the one whose ratio, averaged over the ratios it can show, counts most: 25 ms here (1.25 and
    # 1.5 only); averaged over the whole prior, 100 ms would count most.
    near_median = [0, 0, 0, 0, 60, 150, 50, 5] + [0] * 6
    named = compare_latencies(BOUNDS, near_median, [0, 0, 0, 0, 200, 220, 70, 10] + [0] * 6, 50, 0.01, BEFORE)
    assert "; slower than 25 ms: canary 77.4% (205), stable 60.0% (300); 75% of the weight" in named.message
    assert "; slower than 100 ms: canary 4.0% (8), stable 0.5% (2); 75% of the weight on stable's tail before the " in (
        weighted.message
    )
    assert weighted.message.endswith(f"rollout: 100 ms (p95, p99): sequential p={weighted.p_value:.3g} >= alpha 0.01")
    assert (
        weights_note(BOUNDS, [90, 5, 4, 1])
        == "75% of the weight on stable's tail before the rollout: 2.5 ms (p95), 5 ms (p99)"
    )
    assert (
        weights_note(BOUNDS, [0] * 14)
        == weights_note(BOUNDS, None)
        == ("bounds weighted equally (no stable requests before the rollout)")
    )
