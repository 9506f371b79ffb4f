"""docs/metrics.md is generated from the metric registries, is current, and has a query for every metric."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from mlaiops import metricsdoc
from tests.cli_runner import mlaiops

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_file_is_current() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == metricsdoc.render(), (
        "docs/metrics.md is stale: run `mlaiops metrics-doc`"
    )


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "metrics.md"
    stale.write_text("# Metrics\n")
    command = ["metrics-doc", "--check", "-o", str(stale)]
    result = mlaiops(*command)
    assert result.returncode == 1 and "is stale" in result.stderr
    assert mlaiops("metrics-doc", "-o", str(stale)).returncode == 0
    assert mlaiops(*command).returncode == 0


@pytest.mark.parametrize("registry", [metricsdoc.model_server_registry, metricsdoc.operator_registry])
def test_every_metric_has_its_labels_and_an_example_that_queries_it(registry: object) -> None:
    docs = metricsdoc.describe(registry())  # type: ignore[operator]
    assert docs
    for doc in docs:
        assert doc.help and doc.type in ("counter", "gauge", "histogram", "summary"), doc
        assert any(series in doc.example for series in doc.series), doc


def test_the_labels_users_slice_by_are_listed() -> None:
    server = {doc.name: doc for doc in metricsdoc.describe(metricsdoc.model_server_registry())}
    assert server["mlaiops_model_requests"].labels == ("model", "version", "track", "code")
    assert server["mlaiops_model_requests"].series == ("mlaiops_model_requests_total",)
    assert "feature" in server["mlaiops_model_input_feature"].labels
    operator = {doc.name: doc for doc in metricsdoc.describe(metricsdoc.operator_registry())}
    assert operator["mlaiops_rollout_events"].labels == ("namespace", "modeldeployment", "reason")
    assert operator["mlaiops_alertmanager_requests"].labels == ("outcome",)


def test_a_metric_without_an_example_is_refused() -> None:
    registry = CollectorRegistry()
    Counter("mlaiops_new_things", "New things.", ["kind"], registry=registry)
    Gauge("mlaiops_model_ready", "Known.", registry=registry)
    with pytest.raises(KeyError, match="mlaiops_new_things has no example query"):
        metricsdoc.describe(registry)
