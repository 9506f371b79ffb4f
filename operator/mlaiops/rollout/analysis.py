"""Canary analysis, pure: PromQL templating, built-in metrics and judging one value.

The controller runs the queries through a ``MetricsProvider``; this module only says what
to ask and what the answer means. A provider error is never a pass or a fail: it is
``Error`` and counts against ``consecutiveErrorLimit`` on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mlaiops.api.common import seconds
from mlaiops.api.modeldeployment import AnalysisMetric, AnalysisSpec

Outcome = Literal["Successful", "Failed", "Error", "Inconclusive"]

_SELECTOR = 'namespace="{{namespace}}", model="{{model}}", version="{{version}}", track="{{track}}"'
BUILTIN_QUERIES: dict[str, str] = {
    # Share of the requests the model was asked to answer that it answered without a server error.
    # 4xx are left out of both sides: a client's bad request is not the model's failure, and a flood
    # of them must neither fail a good canary nor dilute the errors of a bad one.
    "request-success-rate": (
        f'sum(rate(mlaiops_model_requests_total{{{_SELECTOR}, code!~"[45].."}}[{{{{interval}}}}]))'
        f' / sum(rate(mlaiops_model_requests_total{{{_SELECTOR}, code!~"4.."}}[{{{{interval}}}}]))'
    ),
    # 99th percentile latency in seconds.
    "request-duration": (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(mlaiops_model_request_duration_seconds_bucket{{{_SELECTOR}}}[{{{{interval}}}}])))"
    ),
}
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class QueryContext:
    """What a metric query may refer to."""

    name: str
    namespace: str
    model: str
    version: str
    track: str
    interval: str


@dataclass(frozen=True)
class MetricOutcome:
    """The result of evaluating one metric once."""

    name: str
    outcome: Outcome
    value: float | None = None
    message: str = ""


def query_window(spec: AnalysisSpec, metric: AnalysisMetric) -> str:
    """The range used in ``rate(...[{{interval}}])``: the metric's interval, at least 4 scrapes wide."""
    interval = metric.interval or spec.interval
    return interval if seconds(interval) >= 4 else "4s"


def render_query(metric: AnalysisMetric, context: QueryContext) -> str:
    """The PromQL to run: the metric's own query or its built-in one, with placeholders filled."""
    template = metric.query or BUILTIN_QUERIES[metric.name]
    values = {
        "name": context.name,
        "namespace": context.namespace,
        "model": context.model,
        "version": context.version,
        "track": context.track,
        "interval": context.interval,
    }

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"unknown placeholder {{{{{key}}}}} in the query of metric {metric.name}")
        return values[key]

    return _PLACEHOLDER.sub(substitute, template)


def judge(metric: AnalysisMetric, value: float | None, error: str | None = None) -> MetricOutcome:
    """Turn one query answer into an outcome, following thresholdRange and onNoData."""
    if error is not None:
        return MetricOutcome(metric.name, "Error", None, error)
    if value is None:
        no_data: dict[str, Outcome] = {"fail": "Failed", "pass": "Successful", "inconclusive": "Inconclusive"}
        outcome = no_data[metric.on_no_data]
        return MetricOutcome(metric.name, outcome, None, f"no data (onNoData: {metric.on_no_data})")
    bounds = metric.threshold_range
    if bounds.min is not None and value < bounds.min:
        return MetricOutcome(metric.name, "Failed", value, f"{value:.6g} is below the minimum {bounds.min:g}")
    if bounds.max is not None and value > bounds.max:
        return MetricOutcome(metric.name, "Failed", value, f"{value:.6g} is above the maximum {bounds.max:g}")
    return MetricOutcome(metric.name, "Successful", value, f"{value:.6g} is within range")
