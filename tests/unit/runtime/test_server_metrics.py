"""The model server's Prometheus metrics, read back through the text exposition format."""

from __future__ import annotations

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from mlaiops.runtime.metrics import ServerMetrics


def samples(metrics: ServerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


BASE = (("model", "fraud"), ("track", "canary"), ("version", "v2"))


def key(name: str, **extra: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted((*BASE, *extra.items())))


def test_requests_latency_and_info() -> None:
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
    metrics.observe_request(200, 0.003)
    metrics.observe_request(200, 0.2)
    metrics.observe_request(400, 0.0005)
    metrics.loaded(1.5, "ab" * 32, ["a", "b"])
    got = samples(metrics)
    assert got[key("mlaiops_model_requests_total", code="200")] == 2
    assert got[key("mlaiops_model_requests_total", code="400")] == 1
    assert got[key("mlaiops_model_request_duration_seconds_bucket", le="0.001")] == 1
    assert got[key("mlaiops_model_request_duration_seconds_bucket", le="0.005")] == 2
    assert got[key("mlaiops_model_request_duration_seconds_bucket", le="10.0")] == 3
    assert got[key("mlaiops_model_load_duration_seconds")] == 1.5
    assert got[key("mlaiops_model_ready")] == 1
    assert got[key("mlaiops_model_info", format="sklearn", sha256="ab" * 32)] == 1
    assert key("mlaiops_model_info", format="sklearn", sha256="") not in got


def test_prediction_histogram_counts_le_buckets() -> None:
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", prediction_buckets=(0.5, 1.0), process=False)
    metrics.observe_batch(np.zeros((4, 1)), np.array([0.1, 0.5, 0.9, np.nan]))
    metrics.observe_batch(np.zeros((1, 1)), np.array([2.0]))
    got = samples(metrics)
    assert got[key("mlaiops_model_prediction_bucket", le="0.5")] == 2
    assert got[key("mlaiops_model_prediction_bucket", le="1.0")] == 3
    assert got[key("mlaiops_model_prediction_bucket", le="+Inf")] == 4
    assert got[key("mlaiops_model_prediction_count")] == 4
    assert got[key("mlaiops_model_prediction_sum")] == 3.5


def test_feature_summaries_are_bounded_and_skip_nan() -> None:
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", max_features=2, process=False)
    metrics.loaded(0.1, "0" * 64, ["amount", "age", "country"])
    metrics.observe_batch(np.array([[10.0, 30.0, 1.0], [np.nan, 50.0, 2.0]]), None)
    got = samples(metrics)
    assert got[key("mlaiops_model_input_feature_sum", feature="amount")] == 10
    assert got[key("mlaiops_model_input_feature_count", feature="amount")] == 1
    assert got[key("mlaiops_model_input_feature_sum", feature="age")] == 80
    assert got[key("mlaiops_model_input_feature_squares_total", feature="age")] == 30**2 + 50**2
    assert not any(labels and ("feature", "country") in labels for _, labels in got)


def test_load_failures_by_reason_and_not_ready() -> None:
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
    metrics.load_failed("ChecksumMismatch")
    got = samples(metrics)
    assert got[key("mlaiops_model_load_errors_total", reason="ChecksumMismatch")] == 1
    assert got[key("mlaiops_model_ready")] == 0
