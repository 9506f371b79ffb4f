"""Prometheus metrics of the model server, in a registry of their own.

Every series carries ``model``, ``version`` and ``track`` so PromQL separates canary from stable;
Prometheus adds ``namespace`` and ``pod`` from service discovery. Predictions and input features
are aggregated per batch with numpy (one call per request, not per row) and exported by a custom
collector. All updates happen on the event-loop thread, so no locks are needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from mlaiops.detection.profile import PREDICTION, FeatureProfile, Profile

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""1 ms .. 10 s."""
PREDICTION_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
"""0.05 .. 1.0: suits probabilities; regressors should pass their own."""
CALL_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 10_000)
"""Rows per model call: powers of two up to the batch sizes people set, then the largest requests."""

LABELS = ("model", "version", "track")


class _BatchStats(Collector):
    """Prediction histogram and per-feature sums, fed a whole batch at a time."""

    def __init__(self, labels: tuple[str, str, str], buckets: Sequence[float], max_features: int) -> None:
        self._labels = list(labels)
        self._bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self._bucket_counts = np.zeros(len(self._bounds) + 1, dtype=np.int64)
        self._prediction_sum = 0.0
        self._max_features = max_features
        self._feature_names: list[str] = []
        self._feature_sum = np.zeros(0)
        self._feature_squares = np.zeros(0)
        self._feature_count = np.zeros(0, dtype=np.int64)

    def set_features(self, names: Sequence[str]) -> None:
        self._feature_names = list(names[: self._max_features])
        width = len(self._feature_names)
        self._feature_sum = np.zeros(width)
        self._feature_squares = np.zeros(width)
        self._feature_count = np.zeros(width, dtype=np.int64)

    def observe_predictions(self, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        if values.size:
            index = np.searchsorted(self._bounds, values, side="left")
            self._bucket_counts += np.bincount(index, minlength=len(self._bucket_counts))
            self._prediction_sum += float(values.sum())

    def observe_features(self, features: np.ndarray) -> None:
        width = len(self._feature_names)
        if not width or features.ndim != 2 or features.dtype.kind not in "biuf":
            return
        block = features[:, :width].astype(np.float64, copy=False)
        finite = np.isfinite(block)
        clean = np.where(finite, block, 0.0)
        self._feature_sum += clean.sum(axis=0)
        self._feature_squares += np.square(clean).sum(axis=0)
        self._feature_count += finite.sum(axis=0)

    def collect(self) -> Iterable[Metric]:
        histogram = HistogramMetricFamily(
            "mlaiops_model_prediction",
            "Predicted value per row: positive-class probability (binary), top-class probability "
            "(multiclass), or the prediction itself (regressors). For drift detection.",
            labels=LABELS,
        )
        cumulative = np.cumsum(self._bucket_counts)
        buckets = [(_le(bound), float(count)) for bound, count in zip(self._bounds, cumulative[:-1], strict=True)]
        buckets.append(("+Inf", float(cumulative[-1])))
        histogram.add_metric(self._labels, buckets, self._prediction_sum)
        yield histogram
        summary = SummaryMetricFamily(
            "mlaiops_model_input_feature",
            "Sum and count of each input feature's finite values (mean = sum / count), first N features.",
            labels=[*LABELS, "feature"],
        )
        squares = CounterMetricFamily(
            "mlaiops_model_input_feature_squares",
            "Sum of squares of each input feature's finite values (for the variance).",
            labels=[*LABELS, "feature"],
        )
        for index, name in enumerate(self._feature_names):
            labels = [*self._labels, name]
            summary.add_metric(labels, int(self._feature_count[index]), float(self._feature_sum[index]))
            squares.add_metric(labels, float(self._feature_squares[index]))
        yield summary
        yield squares


class _DriftSketch(Collector):
    """Live counts over the reference profile's bins, per named feature and for the prediction.

    Cardinality is fixed by the profile (at most 51 bins per feature, see ``detection.profile``) and
    every array is allocated once when the profile loads. When every input feature is numeric (what
    ``mlaiops train`` profiles), a batch is binned for all features at once: one comparison of the
    rows against a padded edge matrix (a searchsorted per feature for large batches) and one ``bincount`` into one flat counter array, so the cost
    of a request hardly depends on the number of features. The reference counts are exported beside
    the live ones (``mlaiops_model_feature_reference_bin``), so a drift rule needs nothing but Prometheus.
    """

    BROADCAST_ROWS = 16
    """Batches up to this many rows are compared with every edge at once (fewest numpy calls); larger
    ones use one searchsorted per feature (fewest comparisons)."""

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self._labels = list(labels)
        self._profile: Profile | None = None
        self._sha256 = ""
        self._features: list[FeatureProfile] = []
        self._flat = np.zeros(0, dtype=np.int64)
        self._counts: list[np.ndarray] = []
        self._bin_labels: list[list[str]] = []
        self._width = 0
        self._all_numeric = False
        self._edges = np.zeros((0, 0))
        self._offsets = np.zeros(0, dtype=np.int64)
        self._inputs_total = 0

    def set_profile(self, profile: Profile | None, sha256: str = "") -> None:
        self._profile, self._sha256 = profile, sha256
        inputs = [] if profile is None else list(profile.features)
        self._features = [*inputs, *([profile.prediction] if profile is not None and profile.prediction else [])]
        sizes = [f.bins for f in self._features]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._flat = np.zeros(int(starts[-1]), dtype=np.int64)
        self._counts = [self._flat[starts[i] : starts[i + 1]] for i in range(len(sizes))]  # views of _flat
        self._bin_labels = [[str(i) for i in range(f.bins)] for f in self._features]
        self._width = len(inputs)
        self._all_numeric = bool(inputs) and all(f.kind == "numeric" for f in inputs)
        widest = max((len(f.edges) for f in inputs), default=0)
        self._edges = np.full((len(inputs), max(widest, 1)), np.inf)
        for row, feature in enumerate(inputs):
            self._edges[row, : len(feature.edges)] = feature.edges
        self._offsets = starts[: len(inputs)]
        self._inputs_total = int(starts[len(inputs)]) if inputs else 0

    @property
    def prediction_output(self) -> str | None:
        return None if self._profile is None else self._profile.prediction_output

    def observe(self, features: np.ndarray, prediction: np.ndarray | None) -> None:
        if self._profile is None:
            return
        width = self._width
        if features.ndim == 2 and features.shape[1] >= width and width:
            if self._all_numeric and features.dtype.kind in "biuf":
                self._add_numeric(features[:, :width].astype(np.float64, copy=False))
            else:
                for index in range(width):
                    self._add(index, features[:, index])
        if prediction is not None and self._profile.prediction is not None:
            self._add(width, prediction)

    def _add_numeric(self, block: np.ndarray) -> None:
        """Every input feature of a numeric batch at once (bin = number of edges <= value)."""
        if block.shape[0] <= self.BROADCAST_ROWS:
            index = (block[:, :, None] >= self._edges[None, :, :]).sum(axis=2) + self._offsets
            finite = np.isfinite(block)
        else:
            columns = np.ascontiguousarray(block.T)  # one feature per row: searchsorted reads it contiguously
            index = np.empty(columns.shape, dtype=np.intp)
            for j in range(self._width):
                index[j] = np.searchsorted(self._edges[j], columns[j], side="right")
            index += self._offsets[:, None]
            finite = np.isfinite(columns)
        counted = index.ravel() if finite.all() else index[finite]
        self._flat[: self._inputs_total] += np.bincount(counted, minlength=self._inputs_total)

    def _add(self, index: int, values: np.ndarray) -> None:
        try:
            bins = self._features[index].bin_of(values)
        except (TypeError, ValueError):  # text where the profile has numbers: the model took it, the sketch skips it
            return
        self._counts[index] += np.bincount(bins[bins >= 0], minlength=self._counts[index].size)

    def collect(self) -> Iterable[Metric]:
        if self._profile is None:
            return  # no profile: no families at all, not empty ones
        live = CounterMetricFamily(
            "mlaiops_model_feature_bin",
            "Rows per bin of the reference profile (profile.json beside the model), per named input feature and "
            f"for the prediction (feature {PREDICTION!r}); bin is the index in the profile (at most 51 per feature): quantile bins of the "
            "training data for numbers, categories plus a last 'other' bin for categories.",
            labels=[*LABELS, "feature", "bin"],
        )
        reference = GaugeMetricFamily(
            "mlaiops_model_feature_reference_bin",
            "Rows per bin in the reference profile itself (the training data's counts): what a drift rule "
            "compares the live mlaiops_model_feature_bin_total increase with; kind is numeric (ordered "
            "bins) or categorical.",
            labels=[*LABELS, "feature", "kind", "bin"],
        )
        info = GaugeMetricFamily(
            "mlaiops_model_profile_info",
            "1 while a reference profile is loaded, with its sha256 and the number of features it profiles.",
            labels=[*LABELS, "sha256", "features"],
        )
        for feature, counts, bins in zip(self._features, self._counts, self._bin_labels, strict=True):
            for index, label in enumerate(bins):
                live.add_metric([*self._labels, feature.name, label], float(counts[index]))
                reference.add_metric([*self._labels, feature.name, feature.kind, label], feature.counts[index])
        info.add_metric([*self._labels, self._sha256, str(len(self._profile.features))], 1.0)
        yield live
        yield reference
        yield info


def _le(bound: float) -> str:
    return repr(float(bound))


class ServerMetrics:
    """The model server's metrics for one model/version/track."""

    def __init__(
        self,
        model: str,
        version: str,
        track: str,
        model_format: str,
        *,
        max_features: int = 20,
        prediction_buckets: Sequence[float] = PREDICTION_BUCKETS,
        process: bool = True,
    ) -> None:
        self.registry = CollectorRegistry()
        self._labels = (model, version, track)
        self._format = model_format
        self._requests = Counter(
            "mlaiops_model_requests",
            "Inference requests (V2 infer and V1 predict) by HTTP status code: 4xx are the client's "
            "errors (bad body, over a limit), 5xx the model's or the server's.",
            [*LABELS, "code"],
            registry=self.registry,
        )
        self._by_code: dict[int, Any] = {}
        self._latency = Histogram(
            "mlaiops_model_request_duration_seconds",
            "Time from receiving an inference request to its response, all status codes.",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(*self._labels)
        self._load_seconds = Gauge(
            "mlaiops_model_load_duration_seconds",
            "Seconds it took to fetch, verify and load the model.",
            LABELS,
            registry=self.registry,
        ).labels(*self._labels)
        self._ready = Gauge(
            "mlaiops_model_ready", "1 when the model is loaded and serving.", LABELS, registry=self.registry
        ).labels(*self._labels)
        self._ready.set(0)
        self._load_errors = Counter(
            "mlaiops_model_load_errors",
            "Failed model load attempts by reason (NotFound, ChecksumMismatch, DownloadFailed, Unloadable, ...).",
            [*LABELS, "reason"],
            registry=self.registry,
        )
        self._call_rows = Histogram(
            "mlaiops_model_call_rows",
            "Rows per model call. With adaptive batching (--max-batch-size) one call serves several requests: "
            "rows per call over requests per call is the batching that took place.",
            LABELS,
            buckets=CALL_ROWS_BUCKETS,
            registry=self.registry,
        ).labels(*self._labels)
        self._call_requests = Counter(
            "mlaiops_model_call_requests",
            "Inference requests answered by model calls (a batched call answers several).",
            LABELS,
            registry=self.registry,
        ).labels(*self._labels)
        self._info = Gauge(
            "mlaiops_model_info",
            "Always 1: the served model's format and the sha256 of its artifact.",
            [*LABELS, "format", "sha256"],
            registry=self.registry,
        )
        self._info.labels(*self._labels, model_format, "").set(1)
        self._batch = _BatchStats(self._labels, prediction_buckets, max_features)
        self.registry.register(self._batch)
        self._sketch = _DriftSketch(self._labels)
        self.registry.register(self._sketch)
        if process:
            ProcessCollector(registry=self.registry)

    def observe_request(self, code: int, seconds: float) -> None:
        counter = self._by_code.get(code)
        if counter is None:
            counter = self._by_code[code] = self._requests.labels(*self._labels, str(code))
        counter.inc()
        self._latency.observe(seconds)

    def observe_call(self, rows: int, requests: int) -> None:
        """One model call of ``rows`` rows answering ``requests`` requests."""
        self._call_rows.observe(rows)
        self._call_requests.inc(requests)

    def observe_batch(
        self, features: np.ndarray, scores: np.ndarray | None, predicted: np.ndarray | None = None
    ) -> None:
        """One request's rows; ``predicted`` (the classes) feeds a profile whose prediction is a class."""
        self._batch.observe_features(features)
        if scores is not None:
            self._batch.observe_predictions(scores)
        self._sketch.observe(features, predicted if self._sketch.prediction_output == "class" else scores)

    def set_profile(self, profile: Profile | None, sha256: str = "") -> None:
        """Count live rows over ``profile``'s bins from now on (None: stop exporting the sketch)."""
        self._sketch.set_profile(profile, sha256)

    def loaded(self, seconds: float, sha256: str, feature_names: Sequence[str]) -> None:
        self._load_seconds.set(seconds)
        self._info.clear()
        self._info.labels(*self._labels, self._format, sha256).set(1)
        self._batch.set_features(feature_names)
        self._ready.set(1)

    def load_failed(self, reason: str) -> None:
        self._load_errors.labels(*self._labels, reason).inc()

    def render(self) -> bytes:
        """The text exposition format (``text/plain; version=0.0.4``)."""
        return generate_latest(self.registry)
