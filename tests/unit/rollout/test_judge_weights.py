"""latency-vs-stable's bound weights from stable's histogram before the rollout: what they are, that the weighted
test keeps alpha over many looks (the weights are fixed before the canary's first request), and what it buys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlaiops.rollout.judge import (
    TAIL_QUANTILES,
    TAIL_SHARE,
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
    assert (TAIL_QUANTILES, TAIL_SHARE) == ((0.95, 0.99), 0.5)
    assert tail_bounds(BEFORE) == [6, 6]  # both in the bucket up to 100 ms (BOUNDS[6])
    # p95 = the 95th request of 100 (the bucket that reaches it), p99 = the 99th.
    assert tail_bounds([90, 5, 4, 1]) == [1, 2] and tail_bounds([90, 4, 5, 1]) == [2, 2]
    assert tail_bounds([94, 1, 5]) == [1, 1]  # the p99 in the last bucket counts at the last bound
    assert tail_bounds([1, 0, 0, 0, 99]) == [3, 3]
    assert tail_bounds([3.0, 1.0]) == [0, 0]  # one bound: it holds the tail
    assert tail_bounds([0, 1, 0]) == [1, 1] and tail_bounds([0, 0.5, 0]) == [1, 1]  # one request, or half of one
    assert tail_bounds([0, 0, 0]) == [] and tail_bounds([4.0]) == [] and tail_bounds([]) == []
    assert tail_bounds([80, 20, 0], (0.5, 0.9)) == [0, 1]


def test_half_the_weight_goes_to_the_tail_bounds_and_half_to_every_bound() -> None:
    weights = bound_weights(BEFORE)
    assert len(weights) == 13 and sum(weights) == pytest.approx(1.0)
    assert weights[6] == pytest.approx(0.5 + 0.5 / 13) and all(w == pytest.approx(0.5 / 13) for w in weights[:6])
    split = bound_weights([90, 5, 4, 1])  # p95 and p99 in different buckets: a quarter each
    assert split == pytest.approx([1 / 6, 1 / 6 + 1 / 4, 1 / 6 + 1 / 4])
    assert bound_weights([90, 5, 4, 1], tail_share=0.2) == pytest.approx([0.8 / 3, 0.8 / 3 + 0.1, 0.8 / 3 + 0.1])
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
        if weights_of == "before":
            weights = bound_weights(rng.multinomial(12000, probabilities).tolist())
        else:  # the sharpest weights there are: every bit on 100 ms (valid all the same: fixed in advance)
            weights = [0.0] * 6 + [1.0] + [0.0] * 6
        canary, stable = np.zeros(len(BOUNDS)), np.zeros(len(BOUNDS))
        for share in shares:
            canary += rng.multinomial(rng.poisson(600 * share), probabilities)
            stable += rng.multinomial(rng.poisson(600 * (1 - share)), probabilities)
            if sequential_slower_p(canary.tolist(), stable.tolist(), weights) < alpha:
                failed += 1
                break
    return failed / runs


@pytest.mark.parametrize(("weights_of", "seed"), [("before", 31), ("one bound", 32)])
def test_weights_fixed_before_the_rollout_keep_alpha_over_many_looks(weights_of: str, seed: int) -> None:
    # The weighted average of the bounds' martingales is a martingale when the weights are known at the first
    # look; Ville's inequality then allows alpha (0.05: 20 of 400) over 40 looks and 13 bounds together.
    assert weighted_false_failures(np.random.default_rng(seed), 400, 0.05, weights_of) <= 0.05


def test_stables_tail_before_the_rollout_catches_a_slower_tail_more_often() -> None:
    # 5 minutes into the benchmark's rollout at 10 req/s (1275 canary and 1725 stable requests), after 10 minutes
    # of stable alone (6000 requests) to weigh the bounds by. The same draws judged both ways.
    rng = np.random.default_rng(33)
    same = lognormal_buckets(0.03, 0.5)
    tail = lognormal_buckets(0.03, 0.5, tail=0.05)
    shifted = lognormal_buckets(0.08, 0.5 * 0.03 / 0.08)
    caught: dict[str, list[bool]] = {"tail weighted": [], "tail equal": [], "shift weighted": []}
    for _ in range(300):
        weights = bound_weights(rng.multinomial(6000, same).tolist())
        stable = rng.multinomial(1725, same).tolist()
        slow_tail, slow_all = rng.multinomial(1275, tail).tolist(), rng.multinomial(1275, shifted).tolist()
        caught["tail weighted"].append(sequential_slower_p(slow_tail, stable, weights) < 0.01)
        caught["tail equal"].append(sequential_slower_p(slow_tail, stable) < 0.01)
        caught["shift weighted"].append(sequential_slower_p(slow_all, stable, weights) < 0.01)
    rates = {name: float(np.mean(values)) for name, values in caught.items()}
    assert rates["tail weighted"] >= rates["tail equal"] + 0.1 and rates["tail weighted"] > 0.8
    assert rates["shift weighted"] == 1.0


def test_the_message_names_the_weighted_bound_that_counts_most_and_the_tail_bounds() -> None:
    # Equal weights name 50 ms (the largest ratio); stable's tail before the rollout was at 100 ms, so the
    # 100 ms bound (half the weight) counts most in the weighted average and is the one named.
    canary = [0, 0, 0, 0, 150, 30, 12, 8] + [0] * 6
    stable = [0, 0, 0, 0, 350, 40, 8, 2] + [0] * 6
    equal = compare_latencies(BOUNDS, canary, stable, 50, 0.01)
    assert "; slower than 50 ms: canary 10.0% (20), stable 2.5% (10); bounds weighted equally" in equal.message
    weighted = compare_latencies(BOUNDS, canary, stable, 50, 0.01, BEFORE)
    assert weighted.p_value == sequential_slower_p(canary, stable, bound_weights(BEFORE))
    assert "; slower than 100 ms: canary 4.0% (8), stable 0.5% (2); 50% of the weight on stable's tail before the " in (
        weighted.message
    )
    assert weighted.message.endswith(f"rollout: 100 ms (p95, p99): sequential p={weighted.p_value:.3g} >= alpha 0.01")
    assert (
        weights_note(BOUNDS, [90, 5, 4, 1])
        == "50% of the weight on stable's tail before the rollout: 2.5 ms (p95), 5 ms (p99)"
    )
    assert (
        weights_note(BOUNDS, [0] * 14)
        == weights_note(BOUNDS, None)
        == ("bounds weighted equally (no stable requests before the rollout)")
    )
