"""V2 model metadata: feature names and their order, as MLServer describes a tabular model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from mlaiops.runtime.loaders import wrap_estimator
from mlaiops.runtime.server import ModelServer, ServeConfig, write_termination_message


def fitted(names: list[str] | None) -> LogisticRegression:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    model = LogisticRegression().fit(x, y)
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    return model


def metadata(names: list[str] | None) -> dict:
    async def build() -> dict:  # the server's semaphore wants a running loop
        server = ModelServer(ServeConfig(model_uri="file:///models/churn.joblib", model_name="churn"))
        server.model = wrap_estimator(fitted(names))
        return server._metadata()

    return asyncio.run(build())


def test_named_features_are_one_input_each_in_the_model_order() -> None:
    document = metadata(["tenure", "age", "plan"])
    assert document["inputs"] == [
        {"name": "tenure", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "age", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "plan", "datatype": "FP64", "shape": [-1, 1]},
    ]
    assert document["parameters"]["feature_names"] == ["tenure", "age", "plan"]
    assert document["parameters"]["content_type"] == "pd"


def test_unnamed_features_are_one_matrix() -> None:
    document = metadata(None)
    assert document["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 3]}]
    assert "feature_names" not in document["parameters"]


def test_termination_message_is_trimmed_to_what_the_kubelet_keeps(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    write_termination_message(path, "NotFound: " + "x" * 5000)
    assert len(path.read_bytes()) == 4096 and path.read_text().startswith("NotFound: ")
    write_termination_message(tmp_path / "missing" / "log", "not written, not raised")


def test_the_profile_beside_a_model_uri() -> None:
    from mlaiops.runtime.server import beside

    assert beside("https://h/m/v1/model.joblib?sig=1", "profile.json") == "https://h/m/v1/profile.json"
    assert beside("s3://bucket/m/v1/model.skops", "profile.json") == "s3://bucket/m/v1/profile.json"
    assert beside("https://h/m/v1/", "profile.json") == "https://h/m/v1/profile.json"
