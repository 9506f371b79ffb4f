"""Leave-one-category-out cross-validation for the NAB benchmark: the fold logic, kept pure.

A score of settings tuned and judged on the same files measures fit, not how the detector does on
data it has never seen. Here each category is held out in turn: settings are chosen by the score on
the other categories only, then judged on the held-out one. ``benchmarks/nab.py --cv`` runs the
detector and NAB's scorer; this module only decides which categories each choice may look at.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Fold:
    """One rotation: tune on ``train``, score ``held_out``."""

    held_out: str
    train: tuple[str, ...]


@dataclass(frozen=True)
class Tally:
    """NAB's raw, null and perfect sums for a set of files; additive, so categories can be pooled."""

    raw: float
    null: float
    perfect: float

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.raw + other.raw, self.null + other.null, self.perfect + other.perfect)


@dataclass(frozen=True)
class FoldResult(Generic[T]):
    """The settings a fold chose and their score on its training categories."""

    fold: Fold
    chosen: T
    train_score: float


def leave_one_out(categories: Iterable[str]) -> list[Fold]:
    """One fold per category, in sorted order; each trains on all the others."""
    names = sorted(set(categories))
    if len(names) < 2:
        raise ValueError(f"categories: leave-one-out needs at least two, got {names}")
    return [Fold(held_out=name, train=tuple(n for n in names if n != name)) for name in names]


def normalised(tallies: Iterable[Tally]) -> float:
    """NAB's normalised score of pooled files: 100 (raw - null) / (perfect - null); NaN without windows."""
    total = sum(tallies, Tally(0.0, 0.0, 0.0))
    if total.perfect == total.null:
        return math.nan
    return 100.0 * (total.raw - total.null) / (total.perfect - total.null)


def tune(grid: Sequence[T], train: Sequence[str], score: Callable[[T, Sequence[str]], float]) -> tuple[T, float]:
    """The grid point with the best score on ``train`` (ties: the earlier point), and that score."""
    if not grid:
        raise ValueError("grid: no settings to choose from")
    best, best_score = grid[0], score(grid[0], train)
    for point in grid[1:]:
        value = score(point, train)
        if value > best_score:
            best, best_score = point, value
    return best, best_score


def cross_validate(
    categories: Iterable[str], grid: Sequence[T], score: Callable[[T, Sequence[str]], float]
) -> list[FoldResult[T]]:
    """Tune once per fold, each time seeing only that fold's training categories."""
    results = []
    for fold in leave_one_out(categories):
        chosen, train_score = tune(grid, fold.train, score)
        results.append(FoldResult(fold=fold, chosen=chosen, train_score=train_score))
    return results
