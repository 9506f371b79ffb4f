"""Training, pure: load a table, split it deterministically, fit an allowlisted estimator, score it
and the champion on the same held-out rows, measure fairness gaps and feature importances.

No Kubernetes and no storage here (``train.py`` does the I/O), so every number is unit-tested.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import ensemble, linear_model, metrics
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split

from mlaiops.api.retrainpolicy import ESTIMATORS, param_problems
from mlaiops.detection import profile as reference

CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2")
_MODULES = (ensemble, linear_model)


class TrainingError(Exception):
    """The data or the configuration cannot produce a model; the message says what to fix."""


@dataclass
class Table:
    """A dataset as named columns (numbers where they parse, strings otherwise)."""

    columns: dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def read_csv(text: str) -> Table:
    """Parse CSV with a header; a column whose every value parses as a number becomes float."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise TrainingError("the dataset is empty") from None
    raw: list[list[str]] = [[] for _ in header]
    for line_number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise TrainingError(f"line {line_number} has {len(row)} fields, the header has {len(header)}")
        for index, value in enumerate(row):
            raw[index].append(value)
    columns: dict[str, np.ndarray] = {}
    for name, values in zip(header, raw, strict=True):
        try:
            columns[name] = np.asarray(values, dtype=float)
        except ValueError:
            columns[name] = np.asarray(values, dtype=object)
    return Table(columns)


def is_classifier(estimator: str) -> bool:
    return estimator.endswith("Classifier") or estimator == "LogisticRegression"


def make_estimator(name: str, params: dict[str, Any] | None, seed: int) -> Any:
    """An estimator from the allowlist; unknown parameters are refused with their names."""
    if name not in ESTIMATORS:
        raise TrainingError(f"estimator {name!r} is not allowed; choose one of {', '.join(ESTIMATORS)}")
    cls = next(getattr(module, name) for module in _MODULES if hasattr(module, name))
    accepted = cls().get_params()
    unknown = sorted(set(params or {}) - set(accepted))
    if unknown:
        raise TrainingError(f"{name} has no parameter(s) {', '.join(unknown)}")
    problems = param_problems(params)
    if problems:
        raise TrainingError(f"{name}: {'; '.join(problems)}")
    settings = dict(params or {})
    if "random_state" in accepted:
        settings.setdefault("random_state", seed)
    if "n_jobs" in accepted and name != "LogisticRegression":  # its n_jobs is deprecated and ignored
        settings.setdefault("n_jobs", 1)  # one core unless asked: the Job's CPU request is what it gets
    return cls(**settings)


@dataclass
class Split:
    """Train and test rows; the same seed and data give the same split, so champion and candidate compare fairly."""

    features: list[str]
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    groups_test: np.ndarray | None = None


def split(
    table: Table,
    target: str,
    features: list[str] | None,
    sensitive: str | None,
    test_size: float,
    seed: int,
    classify: bool,
) -> Split:
    """Select numeric features, hold out ``test_size`` of the rows (stratified for classification)."""
    if target not in table.columns:
        raise TrainingError(f"target column {target!r} is not in the dataset (columns: {', '.join(table.columns)})")
    if sensitive is not None and sensitive not in table.columns:
        raise TrainingError(f"sensitive attribute {sensitive!r} is not in the dataset")
    chosen = features or [name for name in table.columns if name not in (target, sensitive)]
    missing = [name for name in chosen if name not in table.columns]
    if missing:
        raise TrainingError(f"feature column(s) {', '.join(missing)} not in the dataset")
    text = [name for name in chosen if table.columns[name].dtype == object]
    if text:
        raise TrainingError(f"feature column(s) {', '.join(text)} are not numeric; encode them first")
    if table.rows < 10:
        raise TrainingError(f"the dataset has {table.rows} rows; at least 10 are needed")
    x = np.column_stack([table.columns[name] for name in chosen])
    y = table.columns[target]
    if not classify and y.dtype == object:
        raise TrainingError(f"target {target!r} is not numeric but the estimator is a regressor")
    groups = table.columns[sensitive] if sensitive else np.zeros(table.rows)
    stratify = y if classify and min(np.unique(y, return_counts=True)[1]) >= 2 else None
    x_train, x_test, y_train, y_test, _, g_test = train_test_split(
        x, y, groups, test_size=test_size, random_state=seed, stratify=stratify
    )
    return Split(chosen, x_train, x_test, y_train, y_test, g_test if sensitive else None)


def _positive_label(y: np.ndarray) -> Any:
    labels = np.unique(y)
    return labels[-1]


def score(model: Any, data: Split, classify: bool) -> dict[str, float]:
    """Every metric of the task on the held-out rows."""
    predicted = model.predict(data.x_test)
    if not classify:
        return {
            "rmse": float(math.sqrt(metrics.mean_squared_error(data.y_test, predicted))),
            "mae": float(metrics.mean_absolute_error(data.y_test, predicted)),
            "r2": float(metrics.r2_score(data.y_test, predicted)),
        }
    labels = np.unique(data.y_test)
    binary = len(labels) == 2
    result = {
        "accuracy": float(metrics.accuracy_score(data.y_test, predicted)),
        "f1": float(
            metrics.f1_score(data.y_test, predicted, pos_label=_positive_label(data.y_test))
            if binary
            else metrics.f1_score(data.y_test, predicted, average="macro")
        ),
    }
    if hasattr(model, "predict_proba") and len(labels) >= 2:
        proba = model.predict_proba(data.x_test)
        if binary:
            column = list(model.classes_).index(_positive_label(data.y_test))
            result["roc_auc"] = float(metrics.roc_auc_score(data.y_test, proba[:, column]))
        elif proba.shape[1] == len(labels):
            result["roc_auc"] = float(metrics.roc_auc_score(data.y_test, proba, multi_class="ovr"))
    return result


def fairness(model: Any, data: Split) -> dict[str, float]:
    """Largest gaps between groups: positive prediction rate (demographic parity) and true positive rate (equal opportunity)."""
    if data.groups_test is None:
        return {}
    predicted = model.predict(data.x_test)
    positive = _positive_label(data.y_test)
    rates, tprs = [], []
    for group in np.unique(data.groups_test):
        rows = data.groups_test == group
        rates.append(float(np.mean(predicted[rows] == positive)))
        actual = rows & (data.y_test == positive)
        if actual.any():
            tprs.append(float(np.mean(predicted[actual] == positive)))
    return {
        "demographic_parity_difference": max(rates) - min(rates),
        "equal_opportunity_difference": (max(tprs) - min(tprs)) if tprs else 0.0,
    }


def top_features(model: Any, data: Split, seed: int, count: int = 10) -> list[tuple[str, float]]:
    """Permutation importance on the held-out rows, most important first."""
    result = permutation_importance(model, data.x_test, data.y_test, n_repeats=5, random_state=seed)
    order = np.argsort(result.importances_mean)[::-1][:count]
    return [(data.features[index], round(float(result.importances_mean[index]), 6)) for index in order]


@dataclass
class TrainingResult:
    """Everything a run reports: the fitted model and the numbers the validation gate needs."""

    model: Any
    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None = None
    fairness: dict[str, float] = field(default_factory=dict)
    champion_fairness: dict[str, float] = field(default_factory=dict)
    importances: list[tuple[str, float]] = field(default_factory=list)
    rows: int = 0
    profile: reference.Profile | None = None
    """The reference the model server counts live traffic against (see ``detection.profile``)."""


def train(
    table: Table,
    *,
    target: str,
    estimator: str,
    params: dict[str, Any] | None = None,
    features: list[str] | None = None,
    sensitive: str | None = None,
    test_size: float = 0.25,
    seed: int = 42,
    champion: Any = None,
    profile_bins: int = reference.DEFAULT_BINS,
) -> TrainingResult:
    """Fit the candidate and score it and the champion on the same held-out rows."""
    classify = is_classifier(estimator)
    model = make_estimator(estimator, params, seed)
    data = split(table, target, features, sensitive, test_size, seed, classify)
    model.fit(data.x_train, data.y_train)
    result = TrainingResult(model=model, metrics=score(model, data, classify), rows=table.rows)
    result.fairness = fairness(model, data) if classify else {}
    result.importances = top_features(model, data, seed)
    result.profile = profile_of(model, data, classify, profile_bins)
    if champion is not None:
        expected = getattr(champion, "n_features_in_", len(data.features))
        if expected != len(data.features):
            raise TrainingError(f"the champion expects {expected} features, the dataset gives {len(data.features)}")
        named = getattr(champion, "feature_names_in_", None)
        if named is not None and [str(n) for n in named] != data.features:
            raise TrainingError(
                f"the champion was trained on the features {', '.join(map(str, named))} (in this order); "
                f"the dataset gives {', '.join(data.features)}"
            )
        with warnings.catch_warnings():  # a named champion is scored on the same matrix as the candidate
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            result.champion_metrics = score(champion, data, classify)
            result.champion_fairness = fairness(champion, data) if classify else {}
    name_features(model, data.features)
    return result


def prediction_of(model: Any, x: np.ndarray, classify: bool) -> tuple[np.ndarray, str]:
    """What the model server counts per row: the probability of ``classes_[1]`` for a binary classifier
    (the column the server reads), the class for other classifiers, the value for regressors."""
    if classify:
        if hasattr(model, "predict_proba") and len(getattr(model, "classes_", ())) == 2:
            return np.asarray(model.predict_proba(x))[:, 1], "probability"
        return np.asarray(model.predict(x)), "class"
    return np.asarray(model.predict(x), dtype=np.float64), "value"


def profile_of(model: Any, data: Split, classify: bool, bins: int = reference.DEFAULT_BINS) -> reference.Profile:
    """Features binned on the training rows (what the model learned from); the prediction on the held-out
    rows, because predictions on the rows a model was fitted on are more confident than any it makes live."""
    predicted, output = prediction_of(model, data.x_test, classify)
    try:
        return reference.build(
            {name: data.x_train[:, index] for index, name in enumerate(data.features)}, predicted, output, bins
        )
    except reference.ProfileError as error:
        raise TrainingError(f"the reference profile: {error}") from None


def name_features(model: Any, features: list[str]) -> None:
    """Record the feature columns, in order, as ``feature_names_in_`` (what fitting on a DataFrame sets).

    The model is fitted on a matrix, so it would not know them: the model server then lists them in
    its V2 metadata and matches named input columns to them. Set after scoring, which feeds matrices.
    """
    model.feature_names_in_ = np.asarray(features, dtype=object)
