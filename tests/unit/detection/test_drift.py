"""Drift scores, cross-checked against independent implementations (scipy, a textbook PSI) on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from mlaiops.detection import drift
from mlaiops.detection.drift import DEFAULT_THRESHOLDS, PSI_EPSILON, Thresholds


def quantile_counts(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples over the reference's quantile bins (open-ended at both ends)."""
    inner = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    ref = np.bincount(np.searchsorted(inner, reference, side="right"), minlength=bins)
    cur = np.bincount(np.searchsorted(inner, current, side="right"), minlength=bins)
    return ref, cur


def textbook_psi(expected: list[float], actual: list[float]) -> float:
    """PSI as the credit-scoring texts write it, one bin at a time, empty bins replaced by a small share."""
    e_total, a_total = sum(expected), sum(actual)
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e_share = max(e / e_total, PSI_EPSILON)
        a_share = max(a / a_total, PSI_EPSILON)
        total += (a_share - e_share) * math.log(a_share / e_share)
    return total


RNG = np.random.default_rng(7)
REFERENCE = RNG.normal(0, 1, 5000)
CASES = {
    "same": RNG.normal(0, 1, 5000),
    "mean": RNG.normal(0.5, 1, 5000),
    "spread": RNG.normal(0, 2, 5000),  # keeps the mean
    "skew": RNG.exponential(1, 5000) - 1,  # mean 0, different shape
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_psi_matches_a_textbook_psi(case: str) -> None:
    ref, cur = quantile_counts(REFERENCE, CASES[case])
    assert drift.psi(ref, cur) == pytest.approx(textbook_psi(ref.tolist(), cur.tolist()), rel=1e-12)


def test_psi_of_an_empty_bin_is_large_and_finite() -> None:
    value = drift.psi([50, 50], [100, 0])
    assert math.isfinite(value)
    assert value == pytest.approx(textbook_psi([50, 50], [100, 0]))
    assert value > 3


@pytest.mark.parametrize("case", sorted(CASES))
def test_binned_ks_never_exceeds_the_raw_ks(case: str) -> None:
    ref, cur = quantile_counts(REFERENCE, CASES[case])
    raw = ks_2samp(REFERENCE, CASES[case]).statistic
    assert drift.ks(ref, cur) <= raw + 1e-12
    if case != "same":
        assert drift.ks(ref, cur) > 0.5 * raw  # ten quantile bins keep most of it


@pytest.mark.parametrize("case", sorted(CASES))
def test_binned_ks_equals_the_raw_ks_when_each_value_has_its_own_bin(case: str) -> None:
    current = CASES[case]
    values = np.unique(np.concatenate([REFERENCE, current]))
    ref = np.bincount(np.searchsorted(values, REFERENCE), minlength=values.size)
    cur = np.bincount(np.searchsorted(values, current), minlength=values.size)
    assert drift.ks(ref, cur) == pytest.approx(ks_2samp(REFERENCE, current).statistic, abs=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_jensen_shannon_matches_scipy(case: str) -> None:
    ref, cur = quantile_counts(REFERENCE, CASES[case])
    assert drift.jensen_shannon(ref, cur) == pytest.approx(jensenshannon(ref, cur, base=2), abs=1e-12)


def test_jensen_shannon_is_one_for_disjoint_histograms() -> None:
    assert drift.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_wasserstein_matches_scipy_on_the_bin_positions(case: str) -> None:
    ref, cur = quantile_counts(REFERENCE, CASES[case])
    positions = np.arange(ref.size) / (ref.size - 1)
    expected = wasserstein_distance(positions, positions, u_weights=ref, v_weights=cur)
    assert drift.wasserstein(ref, cur) == pytest.approx(expected, abs=1e-12)


def test_wasserstein_is_unit_free() -> None:
    """Scaling a feature (and its reference) by 1000 leaves the score alone: comparable across features."""
    current = CASES["spread"]
    small = drift.wasserstein(*quantile_counts(REFERENCE, current))
    large = drift.wasserstein(*quantile_counts(REFERENCE * 1000, current * 1000))
    assert small == pytest.approx(large)
    assert drift.wasserstein([1, 0, 0], [0, 0, 1]) == pytest.approx(1.0)


def test_categorical_ks_and_wasserstein_are_total_variation() -> None:
    ref, cur = [70, 20, 10], [50, 20, 30]
    assert drift.ks(ref, cur, categorical=True) == pytest.approx(0.2)
    assert drift.wasserstein(ref, cur, categorical=True) == pytest.approx(0.2)
    # The order of categories is arbitrary: the score does not depend on it.
    assert drift.ks([10, 20, 70], [30, 20, 50], categorical=True) == pytest.approx(0.2)


def test_same_distribution_is_stable_and_shifts_that_keep_the_mean_drift() -> None:
    for method in drift.METHODS:
        same = drift.score(method, *quantile_counts(REFERENCE, CASES["same"]))
        assert drift.verdict(same, DEFAULT_THRESHOLDS[method]) == "stable", (method, same)
    for case in ("spread", "mean"):
        ref, cur = quantile_counts(REFERENCE, CASES[case])
        assert drift.verdict(drift.psi(ref, cur), DEFAULT_THRESHOLDS["psi"]) == "drift", case
        assert drift.verdict(drift.ks(ref, cur), DEFAULT_THRESHOLDS["ks"]) != "stable", case


def test_scores_are_zero_for_identical_proportions() -> None:
    for method in drift.METHODS:
        assert drift.score(method, [10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        ([1, 2], [1, 2, 3], "same bins"),
        ([0, 0], [1, 1], "reference: every bin is empty"),
        ([1, -1], [1, 1], "non-negative"),
        ([], [], "no bins"),
        ([1, float("nan")], [1, 1], "finite"),
    ],
)
def test_bad_counts_are_refused_with_the_reason(reference: list[float], current: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        drift.psi(reference, current)


def test_unknown_method_and_bad_thresholds() -> None:
    with pytest.raises(ValueError, match="unknown drift method 'chi2'"):
        drift.score("chi2", [1], [1])
    with pytest.raises(ValueError, match="warn <= drift"):
        Thresholds(0.3, 0.2)
    assert drift.verdict(0.1, DEFAULT_THRESHOLDS["psi"]) == "warn"
    assert drift.verdict(0.25, DEFAULT_THRESHOLDS["psi"]) == "drift"
    assert drift.verdict(0.0999, DEFAULT_THRESHOLDS["psi"]) == "stable"
