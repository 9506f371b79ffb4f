"""Data the demo makes itself (no downloads): a synthetic card-fraud table and a slow 'v2' model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = ("amount", "hour", "merchant_risk", "account_age", "distance", "velocity")


def fraud_table(rows: int = 3000, seed: int = 1, shift: float = 0.0) -> str:
    """CSV with the features, a sensitive attribute (region) and the label; ``shift`` drifts the inputs."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=rows, n_features=len(FEATURES), n_informative=4, flip_y=0.02, class_sep=1.2, random_state=seed
    )
    x[:, 0] += shift
    region = np.where(np.random.default_rng(seed).random(rows) > 0.5, "north", "south")
    lines = [",".join((*FEATURES, "region", "is_fraud"))]
    lines += [",".join(f"{v:.4f}" for v in row) + f",{r},{label}" for row, r, label in zip(x, region, y, strict=True)]
    return "\n".join(lines) + "\n"


def slow_model(path: Path, features: int = len(FEATURES), seed: int = 1) -> None:
    """An accurate model that is slow online: a forest of 3,000 shallow trees (about 90 ms a prediction
    on an idle core, since every tree is walked for every request) — worse online, fine offline."""
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(n_samples=2000, n_features=features, n_informative=4, random_state=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(RandomForestClassifier(n_estimators=3000, max_depth=4, random_state=seed, n_jobs=1).fit(x, y), path)
