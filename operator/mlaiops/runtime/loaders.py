"""Model-format loaders: ``format`` -> a function that turns a local file into a :class:`LoadedModel`.

Two formats ship: ``sklearn`` (joblib, which also reads plain pickles) and ``skops``. A pickle runs
whatever code its author put in it, so a ``sklearn`` artifact must come from someone trusted and be
pinned by its sha256; ``skops`` files are loaded without running code, and only with the types
scikit-learn's estimators are made of (:data:`TRUSTED_TYPES` beside skops' own defaults). Add a
format with :func:`register_loader`; the server only needs ``predict`` and, optionally, ``predict_proba``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"


class LoadError(Exception):
    """The artifact exists but cannot be turned into a model."""

    reason = "Unloadable"


class UnknownFormat(LoadError):
    reason = "UnknownFormat"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict, plus what metadata and input validation need to know about it."""

    estimator: Any
    n_features: int | None = None
    feature_names: tuple[str, ...] | None = None
    classes: tuple[Any, ...] | None = None
    output_names: tuple[str, ...] = (PREDICT,)
    _methods: dict[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict, repr=False)

    argmax_classes: np.ndarray | None = None
    """Set when ``predict`` is by definition ``classes_[argmax(predict_proba)]``: one model call, not two."""

    def run(self, features: np.ndarray, names: Sequence[str]) -> list[tuple[str, np.ndarray]]:
        """Call each output method named in ``names`` (all of them must be in ``output_names``)."""
        if self.argmax_classes is not None and PREDICT_PROBA in names and PREDICT in names:
            proba = np.asarray(self._methods[PREDICT_PROBA](features))
            predicted = self.argmax_classes.take(proba.argmax(axis=1))
            return [(name, predicted if name == PREDICT else proba) for name in names]
        return [(name, np.asarray(self._methods[name](features))) for name in names]

    @property
    def has_proba(self) -> bool:
        return PREDICT_PROBA in self._methods

    def scores(self, results: dict[str, np.ndarray]) -> np.ndarray | None:
        """One number per row for the prediction histogram.

        Positive-class probability for binary classifiers, top-class probability for multiclass,
        the prediction itself for numeric models without ``predict_proba``.
        """
        proba = results.get(PREDICT_PROBA)
        if proba is not None:
            if proba.ndim == 2 and proba.shape[1] >= 2:
                return proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
            return None
        predicted = results.get(PREDICT)
        if predicted is not None and not self.has_proba and predicted.dtype.kind in "biuf":
            return predicted.reshape(-1).astype(np.float64, copy=False)
        return None


@dataclass(frozen=True)
class Loader:
    """How to load one format: the function and the file names to look for inside a folder."""

    load: Callable[[Path], LoadedModel]
    filenames: tuple[str, ...]


_LOADERS: dict[str, Loader] = {}


def register_loader(model_format: str, load: Callable[[Path], LoadedModel], filenames: Sequence[str]) -> None:
    """Make ``model_format`` loadable; ``filenames`` are tried in order when the URI is a folder."""
    _LOADERS[model_format] = Loader(load, tuple(filenames))


def loader_for(model_format: str) -> Loader:
    """The loader of ``model_format``; :class:`UnknownFormat` lists the ones this server has."""
    try:
        return _LOADERS[model_format]
    except KeyError:
        raise UnknownFormat(
            f"model format {model_format!r} is not supported by the built-in server "
            f"(supported: {', '.join(sorted(_LOADERS))}); set runtime.image to a server that loads it"
        ) from None


def formats() -> list[str]:
    return sorted(_LOADERS)


ARGMAX_CLASSIFIERS = frozenset(
    {
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    }
)
"""Classifiers whose scikit-learn ``predict`` is the argmax of ``predict_proba`` (exact types only;
SVC, for one, is not: its probabilities come from a separate calibration)."""


def _argmax_classes(estimator: Any) -> np.ndarray | None:
    kind = type(estimator)
    if f"{kind.__module__}.{kind.__qualname__}" not in ARGMAX_CLASSIFIERS:
        return None
    classes = getattr(estimator, "classes_", None)
    if classes is None or np.ndim(classes) != 1 or getattr(estimator, "n_outputs_", 1) != 1:
        return None
    return np.asarray(classes)


def wrap_estimator(estimator: Any) -> LoadedModel:
    """Describe an estimator with the scikit-learn API (``predict``, ``predict_proba``, ``n_features_in_``)."""
    predict = getattr(estimator, PREDICT, None)
    if not callable(predict):
        raise LoadError(f"the loaded object ({type(estimator).__name__}) has no predict() method")
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {PREDICT: predict}
    try:
        # Pipelines expose predict_proba as a property that raises when the last step lacks it.
        proba = getattr(estimator, PREDICT_PROBA, None)
    except AttributeError:
        proba = None
    if callable(proba):
        methods[PREDICT_PROBA] = proba
    n_features = getattr(estimator, "n_features_in_", None)
    names = getattr(estimator, "feature_names_in_", None)
    classes = getattr(estimator, "classes_", None)
    if names is not None:
        # Fitted on a DataFrame, served arrays: sklearn would warn on every request.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
    return LoadedModel(
        estimator=estimator,
        n_features=int(n_features) if n_features is not None else None,
        feature_names=tuple(str(n) for n in names) if names is not None else None,
        classes=tuple(np.asarray(classes).tolist()) if classes is not None else None,
        output_names=tuple(methods),
        _methods=methods,
        argmax_classes=_argmax_classes(estimator) if PREDICT_PROBA in methods else None,
    )


def _load_sklearn(path: Path) -> LoadedModel:
    return wrap_estimator(load_pickle(path))


def load_pickle(path: Path) -> Any:
    """A joblib (or plain pickle) file: it runs arbitrary code, so only from a sha256-pinned, trusted source."""
    import joblib

    try:
        return joblib.load(path)
    except Exception as error:
        raise LoadError(f"cannot load {path} as a scikit-learn model: {type(error).__name__}: {error}") from None


TRUSTED_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
"""Types skops does not trust by default that the trainer's estimators (api.retrainpolicy.ESTIMATORS)
are made of: the trees of the forests and boosted ensembles. Anything else in a file is refused."""


def load_skops(path: Path) -> Any:
    """A skops file, refused when it holds a type outside skops' defaults and :data:`TRUSTED_TYPES`."""
    import skops.io

    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    except Exception as error:
        raise LoadError(f"cannot read {path} as a skops file: {type(error).__name__}: {error}") from None
    if untrusted:
        raise LoadError(f"{path} holds types that are not trusted: {', '.join(untrusted)}; refusing to load it")
    try:
        return skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as error:
        raise LoadError(f"cannot load {path} as a skops model: {type(error).__name__}: {error}") from None


def load_estimator(path: Path) -> Any:
    """An estimator by its file's suffix: ``.skops`` with skops, anything else with joblib."""
    return load_skops(path) if path.suffix == ".skops" else load_pickle(path)


register_loader("sklearn", _load_sklearn, ("model.joblib", "model.pkl", "model.pickle"))
register_loader("skops", lambda path: wrap_estimator(load_skops(path)), ("model.skops",))


def load(model_format: str, path: Path) -> LoadedModel:
    """Load ``path`` with the loader of ``model_format``; every failure is a :class:`LoadError`."""
    loader = loader_for(model_format)
    try:
        return loader.load(path)
    except LoadError:
        raise
    except Exception as error:
        raise LoadError(f"cannot load {path} as {model_format}: {type(error).__name__}: {error}") from None
