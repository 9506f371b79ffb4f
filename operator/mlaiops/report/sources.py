"""Series for a chart from Prometheus: an AnomalyRule's query with its band, or any PromQL.

The band comes from the operator's exported ``mlaiops_anomaly_{score,expected,lower,upper}``
series when Prometheus has them for the window (``band_source="operator"``); otherwise the rule's
own detector is re-run here over the queried points (``band_source="replay"``), warm-started on the
history just before the window, exactly as the operator warm-starts on ``fitWindow``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.api.common import seconds
from mlaiops.metrics.prometheus import PrometheusProvider
from mlaiops.metrics.provider import ProviderError, Series
from mlaiops.report.model import MetricSeries

BAND_PARTS = ("score", "expected", "lower", "upper")
MAX_POINTS = 2000


def step_for(start: datetime, end: datetime) -> float:
    """A range-query step fine enough for short spikes (1 s), but never more than MAX_POINTS points.

    Not the rule's interval: a spike shorter than the interval would fall between the grid points.
    """
    return max((end - start).total_seconds() / MAX_POINTS, 1.0)


def series_label(labels: dict[str, str], common: set[str] | None = None) -> str:
    """``{pod="a", track="canary"}`` without the metric name and labels every series shares."""
    shown = {k: v for k, v in sorted(labels.items()) if k != "__name__" and k not in (common or set())}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in shown.items()) + "}" if shown else "value"


def _common_labels(series: list[Series]) -> set[str]:
    """Labels every series shares (for a single series: all but ``pod``), left out of the legend."""
    if not series:
        return set()
    first = series[0].labels
    if len(series) == 1:
        return {k for k in first if k != "pod"}
    return {k for k, v in first.items() if all(s.labels.get(k) == v for s in series[1:])}


def _align(target: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` at ``target`` timestamps (same step grid), NaN where missing."""
    out = np.full(len(target), np.nan)
    index = {round(float(t), 3): float(v) for t, v in zip(timestamps, values, strict=True)}
    for position, stamp in enumerate(target):
        out[position] = index.get(round(float(stamp), 3), np.nan)
    return out


def query_series(
    provider: PrometheusProvider, query: str, start: datetime, end: datetime, step: float
) -> list[MetricSeries]:
    """Any PromQL over a window, one MetricSeries per result series, no band."""
    result = provider.range_sync(query, start, end, step)
    common = _common_labels(result)
    return [MetricSeries(series_label(s.labels, common), s.timestamps, s.values) for s in result]


def rule_series(
    provider: PrometheusProvider,
    namespace: str,
    name: str,
    spec: AnomalyRuleSpec,
    start: datetime,
    end: datetime,
) -> tuple[list[MetricSeries], str]:
    """The rule's query over [start, end] with each series' band and scores; and a note for the chart.

    Raises ``ProviderError`` when the rule's own query fails (Prometheus down or the query rejected).
    """
    from mlaiops.detection.rules import fingerprint

    if spec.drift is not None:
        raise ProviderError(
            "a drift rule is plotted one feature at a time (kubectl mlaiops plot --feature NAME); each feature's "
            "score is in the rule's status.series and the operator's mlaiops_drift_score"
        )
    if spec.query is None:
        raise ProviderError("multivariate rules (spec.queries) cannot be plotted; plot each query on its own")
    step = step_for(start, end)
    exported = _operator_band(provider, namespace, name, start, end, step)
    if not exported:  # replayed: feed the detector what the operator saw, one point per evaluation
        step = max(step, seconds(spec.interval))
    data = provider.range_sync(spec.query, start, end, step)
    common = _common_labels(data)
    out = []
    replayed = 0
    for series in data:
        item = MetricSeries(series_label(series.labels, common), series.timestamps, series.values)
        band = exported.get(fingerprint(namespace, name, series.labels))
        if band and "score" in band:
            for part in BAND_PARTS:
                if part in band:
                    setattr(item, part, _align(series.timestamps, *band[part]))
            item.band_source = "operator"
        else:
            _replay(item, provider, spec, series, start, step)
            replayed += 1
        out.append(item)
    note = ""
    if replayed:
        note = (
            f"band of {replayed} series re-computed here with the rule's detector "
            "(the operator's mlaiops_anomaly_* series are not in Prometheus for this window)"
        )
    return out, note


def _operator_band(
    provider: PrometheusProvider, namespace: str, name: str, start: datetime, end: datetime, step: float
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """fingerprint -> part -> (timestamps, values) of the operator's exported band; empty when absent."""
    band: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for part in BAND_PARTS:
        try:
            result = provider.range_sync(
                f'mlaiops_anomaly_{part}{{namespace="{namespace}", rule="{name}"}}', start, end, step
            )
        except ProviderError:
            return {}
        for series in result:
            key = series.labels.get("series", "")
            band.setdefault(key, {})[part] = (series.timestamps, series.values)
    return band


def _replay(
    item: MetricSeries,
    provider: PrometheusProvider,
    spec: AnomalyRuleSpec,
    series: Series,
    start: datetime,
    step: float,
) -> None:
    """Score the points with the rule's detector, warm-started on the history before ``start`` (same step)."""
    from mlaiops.detection.config import parse_detector_config
    from mlaiops.detection.engine import Engine
    from mlaiops.detection.rules import detector_config, hysteresis_config

    if len(series.timestamps) == 0:
        return
    engine = Engine(parse_detector_config(detector_config(spec)), hysteresis_config(spec))
    # At most MAX_POINTS points at the same step: the detector's windows count points, not seconds.
    span = min(seconds(spec.fit_window), 6 * 3600, step * MAX_POINTS)
    try:
        history = provider.range_sync(
            spec.query or "", start - timedelta(seconds=span), start - timedelta(seconds=1), step
        )
    except ProviderError:
        history = []
    match = next((h for h in history if h.labels == series.labels), None)
    if match is not None and len(match.timestamps):
        engine.fit(match.values.reshape(1, -1), match.timestamps)
    result = engine.evaluate(series.timestamps, series.values.reshape(1, -1))
    item.score, item.expected = result.score[0], result.expected[0]
    item.lower, item.upper = result.lower[0], result.upper[0]
    item.band_source = "replay"
