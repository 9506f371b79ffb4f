"""Data the demo makes itself (no downloads): card transactions, their fraud labels, and a slow 'v2' model.

One generator serves both the labelled tables the trainer reads and the rows the traffic sends, so
the model sees in production what it was trained on, until the story makes the inputs drift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = ("amount", "hour", "merchant_risk", "account_age", "distance", "velocity")
DRIFTING = "merchant_risk"
"""The feature whose upstream provider changes its scale in step 3."""
WEIGHTS = np.array([0.8, 0.0, 2.0, -0.7, 0.5, 1.0])
"""How each (standardised) feature weighs on the log-odds of fraud; merchant risk weighs most."""
BIAS = -1.5
"""About 30% of the generated transactions are fraudulent: plenty of positives for a small table."""


def transactions(rng: np.random.Generator, rows: int, drift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Features (rows x FEATURES) and fraud labels.

    ``drift`` moves the merchant-risk score by that many standard deviations, as when its provider
    re-scales it: the fraud it signals stays the same, so a model trained before the move misreads it.
    """
    x = rng.normal(size=(rows, len(FEATURES)))
    odds = x @ WEIGHTS + BIAS
    labels = (rng.random(rows) < 1 / (1 + np.exp(-odds))).astype(int)
    x[:, FEATURES.index(DRIFTING)] += drift
    return x, labels


def fraud_table(rows: int = 3000, seed: int = 1, drift: float = 0.0) -> str:
    """CSV with the features, a sensitive attribute (region, independent of fraud) and the label."""
    rng = np.random.default_rng(seed)
    x, y = transactions(rng, rows, drift)
    region = np.where(rng.random(rows) > 0.5, "north", "south")
    lines = [",".join((*FEATURES, "region", "is_fraud"))]
    lines += [",".join(f"{v:.4f}" for v in row) + f",{r},{label}" for row, r, label in zip(x, region, y, strict=True)]
    return "\n".join(lines) + "\n"


SLOW_TREES = 1000
"""Trees of the slow forest: about 85 us of CPU each per prediction (every tree is walked for every request),
so about 80 ms a prediction, measured on the 2-core machine (3,000 trees took 265 ms, 8.4 s to fit)."""


DISTINCT_TREES = 100
"""Trees the tests' slow forest learns; it walks each of them ``trees / DISTINCT_TREES`` times."""


def slow_model(path: Path, features: int = len(FEATURES), seed: int = 1, trees: int = SLOW_TREES) -> None:
    """A slow model of a generic classification task: a forest that walks ``trees`` shallow trees
    (``SLOW_TREES``) for every prediction, as slow as that many distinct ones.

    It learns only ``DISTINCT_TREES`` and repeats them: the predictions are those 100 trees' (a forest's
    accuracy has long levelled off by then), the latency is that of ``trees``, and the fit and the model
    file are about a tenth (1,000 trees: 0.31 s to fit against 2.92 s; 3,000 distinct trees took 8.4 s on a
    test worker, at the start of its e2e group; the file is 0.3 MB, not 8, for each pod to load)."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=2000, n_features=features, n_informative=4, random_state=seed)
    _save_forest(path, x, y, seed, trees, distinct=min(trees, DISTINCT_TREES))


def slow_fraud_model(path: Path, seed: int = 1) -> None:
    """The demo's step-2 model: the same slow forest, learnt from the demo's transactions, so it is as
    accurate as the champion (about 81% of fraud labels right, against 82%) — worse online, fine offline,
    and the delayed labels say so too."""
    x, y = transactions(np.random.default_rng(seed), 2000)
    _save_forest(path, x, y, seed, SLOW_TREES)


def _save_forest(path: Path, x: np.ndarray, y: np.ndarray, seed: int, trees: int, distinct: int | None = None) -> None:
    """A forest of ``trees`` depth-4 trees, of which ``distinct`` (all by default) are learnt and the rest
    repeat them in turn (the same objects: the file holds each once)."""
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    path.parent.mkdir(parents=True, exist_ok=True)
    learnt = distinct or trees
    forest = RandomForestClassifier(n_estimators=learnt, max_depth=4, random_state=seed, n_jobs=1).fit(x, y)
    if learnt < trees:
        forest.estimators_ = [forest.estimators_[i % learnt] for i in range(trees)]
        forest.n_estimators = trees
    joblib.dump(forest, path)
