"""Fixtures: a joblib model made here, `mlaiops serve` processes stopped after each test, and a real Prometheus
for the tests that judge what the servers export."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
from mlaiops_sandbox.runtime.prometheus import Prometheus
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

# The tests import their helpers as a top-level module whatever pytest's import mode is.
sys.path.insert(0, str(Path(__file__).parent))
from serve_support import N_FEATURES, ModelFile, Servers


@pytest.fixture
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    group = Servers(tmp_path_factory)
    yield group
    group.stop_all()


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> ModelFile:
    features, labels = make_classification(
        n_samples=400, n_features=N_FEATURES, n_informative=5, weights=[0.9], random_state=3
    )
    estimator = LogisticRegression(max_iter=500).fit(features, labels)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(estimator, path)
    return ModelFile(path, estimator, features[:16])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path / "prometheus")
    server.start()
    yield server
    server.stop()
