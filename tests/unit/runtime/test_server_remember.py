"""What the server keeps of a prediction for late labels: one entry per row, and never a failed answer."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlaiops.runtime.feedback import LabelKind
from mlaiops.runtime.loaders import wrap_estimator
from mlaiops.runtime.predictions import NO_CLASS, Joined
from mlaiops.runtime.server import ModelServer, ServeConfig

pytestmark = pytest.mark.unit

X = np.random.default_rng(1).normal(size=(40, 3))


def server_with(estimator: object) -> ModelServer:
    async def build() -> ModelServer:  # the server's semaphore wants a running loop
        server = ModelServer(ServeConfig(model_uri="file:///models/m.joblib", model_name="m"))
        server.model = wrap_estimator(estimator)
        server.label_kind = LabelKind(server.model.classes)
        return server

    return asyncio.run(build())


def remember(server: ModelServer, rows: np.ndarray, request_id: str | None = None) -> str:
    model = server.model
    assert model is not None
    results = dict(model.run(rows, model.output_names))
    return server._remember(model, request_id, rows, results)


def test_a_classifier_keeps_each_row_with_its_class_and_positive_score() -> None:
    estimator = LogisticRegression().fit(X, np.arange(40) % 2)
    server = server_with(estimator)
    request_id = remember(server, X[:3], "req")
    assert request_id == "req"
    for row in range(3):
        joined = server.predictions.join(f"req:{row}")
        assert isinstance(joined, Joined)
        assert joined.predicted == int(estimator.predict(X[row : row + 1])[0])
        assert joined.score == pytest.approx(estimator.predict_proba(X[row : row + 1])[0, 1])
    made = remember(server, X[:1])
    assert made.startswith(server.predictions.instance) and isinstance(server.predictions.join(made), Joined)


def test_a_multi_output_regressor_keeps_rows_without_a_misaligned_score() -> None:
    server = server_with(LinearRegression().fit(X, np.column_stack([X[:, 0], X[:, 1]])))
    remember(server, X[:2], "multi")
    joined = server.predictions.join("multi:1")
    assert isinstance(joined, Joined) and joined.predicted == NO_CLASS and np.isnan(joined.score)


def test_a_store_failure_is_logged_and_the_answer_stands(caplog: pytest.LogCaptureFixture) -> None:
    server = server_with(LogisticRegression().fit(X, np.arange(40) % 2))

    def broken(*_: object) -> None:
        raise RuntimeError("store broken")

    server.predictions.add = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="mlaiops.serve"):
        assert remember(server, X[:1], "kept") == "kept"
    assert "could not keep request 'kept' for late labels" in caplog.text
