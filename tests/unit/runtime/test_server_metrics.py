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


def _profile() -> object:
    from mlaiops.detection.profile import build

    rng = np.random.default_rng(5)
    return build(
        {"amount": rng.normal(0, 1, 1000), "age": rng.uniform(18, 90, 1000)}, rng.uniform(size=1000), "probability"
    )


def test_drift_sketch_counts_rows_over_the_reference_bins() -> None:
    from mlaiops.detection.profile import PREDICTION

    profile = _profile()
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
    metrics.set_profile(profile, "cd" * 32)  # type: ignore[arg-type]
    rows = np.array([[-5.0, 20.0], [0.0, 50.0], [5.0, np.nan], [0.1, 89.0]])
    scores = np.array([0.01, 0.5, 0.99, 0.6])
    metrics.observe_batch(rows, scores)
    metrics.observe_batch(rows[:1], scores[:1])
    got = samples(metrics)
    for column, name in enumerate(("amount", "age")):
        feature = profile.get(name)  # type: ignore[attr-defined]
        expected = feature.count(np.concatenate([rows[:, column], rows[:1, column]]))
        for index in range(feature.bins):
            assert got[key("mlaiops_model_feature_bin_total", feature=name, bin=str(index))] == expected[index]
            assert (
                got[key("mlaiops_model_feature_reference_bin", feature=name, kind="numeric", bin=str(index))]
                == feature.counts[index]
            )
    assert got[key("mlaiops_model_feature_bin_total", feature="amount", bin="0")] == 2  # -5 twice, below every edge
    assert (
        sum(
            v
            for (n, labels), v in got.items()
            if n == "mlaiops_model_feature_bin_total" and ("feature", "age") in labels
        )
        == 4
    )
    prediction = [
        v
        for (n, labels), v in got.items()
        if n == "mlaiops_model_feature_bin_total" and ("feature", PREDICTION) in labels
    ]
    assert len(prediction) == 10 and sum(prediction) == 5
    assert got[key("mlaiops_model_profile_info", sha256="cd" * 32, features="2")] == 1


def test_class_predictions_are_counted_from_the_predicted_classes() -> None:
    from mlaiops.detection.profile import PREDICTION, build

    profile = build({"x": np.arange(10.0)}, np.asarray(["a", "b", "c"] * 3 + ["a"]), "class")
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
    metrics.set_profile(profile)
    metrics.observe_batch(np.zeros((3, 1)), np.array([0.9, 0.8, 0.7]), np.asarray(["b", "b", "zebra"], dtype=object))
    got = samples(metrics)
    assert got[key("mlaiops_model_feature_bin_total", feature=PREDICTION, bin="1")] == 2
    assert got[key("mlaiops_model_feature_bin_total", feature=PREDICTION, bin="3")] == 1  # other


def test_without_a_profile_no_sketch_series_are_exported() -> None:
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
    metrics.observe_batch(np.zeros((2, 2)), np.array([0.1, 0.2]))
    assert not any(name.startswith(("mlaiops_model_feature", "mlaiops_model_profile")) for name, _ in samples(metrics))


def test_the_sketch_does_not_grow_with_traffic() -> None:
    """Memory held by the sketch's code after 2,000 more batches is what it was after the first 200: nothing
    accumulates per request. Only allocations made in the server's metrics code and prometheus-client count
    (other threads of the test process allocate too), and the bound is far below one object per request
    (2,000 batches: a leak of even one small int each would hold 56 KB)."""
    import tracemalloc

    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
    metrics.set_profile(_profile())  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(8, 2)), rng.uniform(size=8)) for _ in range(16)]
    ours = [tracemalloc.Filter(True, "*mlaiops/runtime/*"), tracemalloc.Filter(True, "*prometheus_client/*")]

    def held() -> int:
        return sum(stat.size for stat in tracemalloc.take_snapshot().filter_traces(ours).statistics("filename"))

    tracemalloc.start()
    try:
        for index in range(200):
            metrics.observe_batch(*batches[index % 16])
        before = held()
        for index in range(2000):
            metrics.observe_batch(*batches[index % 16])
        after = held()
    finally:
        tracemalloc.stop()
    assert after - before < 8192


def test_values_the_profile_cannot_bin_are_skipped_not_an_error() -> None:
    metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
    metrics.set_profile(_profile())  # type: ignore[arg-type]
    metrics.observe_batch(np.asarray([["abc", 1.0]], dtype=object), None)
    got = samples(metrics)
    assert got[key("mlaiops_model_feature_bin_total", feature="age", bin="0")] == 1
    assert (
        sum(
            v
            for (n, labels), v in got.items()
            if n == "mlaiops_model_feature_bin_total" and ("feature", "amount") in labels
        )
        == 0
    )


def test_the_whole_batch_paths_count_what_each_feature_counts_alone() -> None:
    """Broadcast (small batches) and searchsorted (large ones) give every feature's own bin_of counts."""
    from mlaiops.detection.profile import build

    rng = np.random.default_rng(8)
    profile = build(
        {"a": rng.normal(size=500), "flag": rng.integers(0, 2, 500).astype(float), "c": rng.exponential(size=500)}
    )
    rows = np.column_stack([rng.normal(0, 3, 3000), rng.integers(-1, 3, 3000), rng.exponential(2, 3000)])
    rows[::97, 0] = np.nan
    rows[::89, 2] = np.inf
    for limit in (10**9, 0):
        metrics = ServerMetrics("fraud", "v2", "canary", "sklearn", process=False)
        metrics._sketch.BROADCAST_ROWS = limit
        metrics.set_profile(profile)
        metrics.observe_batch(rows, None)
        got = samples(metrics)
        for column, feature in enumerate(profile.features):
            expected = feature.count(rows[:, column]).tolist()
            counted = [
                got[key("mlaiops_model_feature_bin_total", feature=feature.name, bin=str(i))]
                for i in range(feature.bins)
            ]
            assert counted == expected, (limit, feature.name)
