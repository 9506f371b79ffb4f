"""Format loaders: scikit-learn via joblib or pickle, outputs, metadata, and failures with their reason."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from mlaiops.runtime import loaders
from mlaiops.runtime.loaders import PREDICT, PREDICT_PROBA


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=300, n_features=6, n_classes=3, n_informative=4, random_state=1)


def test_joblib_classifier_has_both_outputs(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path)
    model = loaders.load("sklearn", path)
    assert model.n_features == 6
    assert model.classes == (0, 1, 2)
    assert model.output_names == (PREDICT, PREDICT_PROBA)
    outputs = dict(model.run(x[:4], [PREDICT_PROBA]))
    assert outputs[PREDICT_PROBA].shape == (4, 3)
    np.testing.assert_allclose(outputs[PREDICT_PROBA].sum(axis=1), 1.0)


def test_plain_pickle_regressor_has_predict_only(tmp_path: Path) -> None:
    x, y = make_regression(n_samples=50, n_features=3, random_state=0)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(LinearRegression().fit(x, y)))
    model = loaders.load("sklearn", path)
    assert model.output_names == (PREDICT,)
    assert not model.has_proba
    predicted = dict(model.run(x[:2], [PREDICT]))[PREDICT]
    assert model.scores({PREDICT: predicted}) is not None
    np.testing.assert_allclose(model.scores({PREDICT: predicted}), predicted)


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(max_iter=500),
        RandomForestClassifier(n_estimators=10, random_state=0),
        ExtraTreesClassifier(n_estimators=10, random_state=0),
        DecisionTreeClassifier(random_state=0),
        GradientBoostingClassifier(n_estimators=10, random_state=0),
    ],
    ids=lambda e: type(e).__name__,
)
def test_predict_from_proba_equals_predict(estimator: object, data: tuple[np.ndarray, np.ndarray]) -> None:
    """The one-call shortcut must give exactly what the estimator's own predict() gives."""
    x, y = data
    model = loaders.wrap_estimator(estimator.fit(x, y))  # type: ignore[attr-defined]
    assert model.argmax_classes is not None
    fast = dict(model.run(x, [PREDICT, PREDICT_PROBA]))
    np.testing.assert_array_equal(fast[PREDICT], estimator.predict(x))  # type: ignore[attr-defined]
    np.testing.assert_allclose(fast[PREDICT_PROBA], estimator.predict_proba(x))  # type: ignore[attr-defined]


def test_other_classifiers_call_predict_themselves(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    model = loaders.wrap_estimator(KNeighborsClassifier().fit(x, y))
    assert model.argmax_classes is None
    assert np.array_equal(dict(model.run(x, [PREDICT, PREDICT_PROBA]))[PREDICT], model.estimator.predict(x))


def test_scores_are_positive_class_or_top_class_probability() -> None:
    model = loaders.wrap_estimator(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    binary = np.array([[0.9, 0.1], [0.3, 0.7]])
    assert model.scores({PREDICT_PROBA: binary}).tolist() == [0.1, 0.7]  # type: ignore[union-attr]
    multi = np.array([[0.2, 0.5, 0.3]])
    assert model.scores({PREDICT_PROBA: multi}).tolist() == [0.5]  # type: ignore[union-attr]


def test_feature_names_are_kept() -> None:
    class Named:
        n_features_in_ = 2
        feature_names_in_ = np.array(["amount", "age"], dtype=object)

        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.zeros(len(x))

    model = loaders.wrap_estimator(Named())
    assert model.feature_names == ("amount", "age")
    assert model.n_features == 2


def test_unloadable_file_and_object_without_predict(tmp_path: Path) -> None:
    garbage = tmp_path / "model.joblib"
    garbage.write_bytes(b"this is not a pickle")
    with pytest.raises(loaders.LoadError, match=r"cannot load .* as a scikit-learn model") as caught:
        loaders.load("sklearn", garbage)
    assert caught.value.reason == "Unloadable"
    no_predict = tmp_path / "dict.joblib"
    joblib.dump({"weights": [1, 2]}, no_predict)
    with pytest.raises(loaders.LoadError, match=r"\(dict\) has no predict\(\) method"):
        loaders.load("sklearn", no_predict)


def test_unknown_format_lists_supported(tmp_path: Path) -> None:
    with pytest.raises(loaders.UnknownFormat, match=r"'onnx' is not supported .*\(supported: sklearn, skops\)"):
        loaders.load("onnx", tmp_path / "model.onnx")


def test_register_a_new_format(tmp_path: Path) -> None:
    class Constant:
        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.full(len(x), 7.0)

    loaders.register_loader("test-constant", lambda _: loaders.wrap_estimator(Constant()), ("model.const",))
    try:
        assert loaders.loader_for("test-constant").filenames == ("model.const",)
        model = loaders.load("test-constant", tmp_path / "model.const")
        assert dict(model.run(np.zeros((2, 1)), [PREDICT]))[PREDICT].tolist() == [7.0, 7.0]
    finally:
        loaders._LOADERS.pop("test-constant", None)


# --- skops: loaded without running code, only trusted types -------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(max_iter=500),
        RandomForestClassifier(n_estimators=5),
        GradientBoostingClassifier(n_estimators=5),
    ],
)
def test_skops_loads_the_trainers_estimators(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], estimator: object
) -> None:
    import skops.io

    x, y = data
    fitted = estimator.fit(x, y)  # type: ignore[attr-defined]
    path = tmp_path / "model.skops"
    skops.io.dump(fitted, path)
    model = loaders.load("skops", path)
    assert model.output_names == (PREDICT, PREDICT_PROBA)
    np.testing.assert_array_equal(dict(model.run(x[:5], [PREDICT]))[PREDICT], fitted.predict(x[:5]))  # type: ignore[attr-defined]
    assert type(loaders.load_estimator(path)) is type(fitted)


def test_skops_refuses_untrusted_types(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    import skops.io

    x, y = data
    path = tmp_path / "model.skops"
    skops.io.dump({"model": KNeighborsClassifier().fit(x, y), "hook": Path("/etc")}, path)
    with pytest.raises(loaders.LoadError, match=r"not trusted: .*Path"):
        loaders.load("skops", path)


def test_skops_refuses_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(LinearRegression()))
    with pytest.raises(loaders.LoadError, match=r"cannot read .* as a skops file"):
        loaders.load("skops", path)
