"""The Prometheus implementation of ``MetricsProvider``, on prometheus-api-client.

prometheus-api-client is synchronous (requests); calls run in a worker thread so the
operator's event loop never blocks on a slow Prometheus.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
from datetime import datetime

import numpy as np
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from mlaiops.metrics.provider import ProviderError, Sample, Series


def _number(text: str) -> float:
    """Prometheus sends values as strings, including NaN and +Inf."""
    return float(text)


def step_param(step_seconds: float) -> str:
    """A range query's ``step`` as whole milliseconds (``8640ms``), which Prometheus always parses.

    Prometheus reads ``step`` as a float of seconds or as its duration syntax, which has no
    fractions: ``8.64s`` is refused ("cannot parse"). Rounding up never asks for more points.
    """
    if not math.isfinite(step_seconds) or step_seconds <= 0:
        raise ValueError(f"a range query's step must be a positive number of seconds, got {step_seconds!r}")
    return f"{max(1, math.ceil(round(step_seconds * 1000, 6)))}ms"


_BODY = re.compile(r"^HTTP Status Code (\d+) \((b'.*'|b\".*\")\)$", re.DOTALL)


def _reason(error: Exception) -> str:
    """Prometheus's own error text ("parse error at char 5: ...") instead of the client's raw bytes."""
    text = str(error)
    found = _BODY.match(text)
    if not found:
        return text
    try:
        body = json.loads(ast.literal_eval(found.group(2)))
        return f"{body.get('errorType', 'error')}: {body['error']} (HTTP {found.group(1)})"
    except (ValueError, SyntaxError, KeyError, TypeError, AttributeError):
        return text


class PrometheusProvider:
    """Queries one Prometheus server over its HTTP API."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # No client-side retries: the caller counts errors (consecutiveErrorLimit) and retries on its schedule.
        self._client = PrometheusConnect(url=self.url, disable_ssl=True, retry=Retry(total=0), timeout=timeout)

    def instant_sync(self, query: str, at: datetime | None = None) -> list[Sample]:
        """``instant`` for callers already on a worker thread (kopf's sync handlers)."""
        params = {"time": f"{at.timestamp():.3f}"} if at else None
        try:
            result = self._client.custom_query(query, params=params)
        except (PrometheusApiClientException, requests.RequestException, ValueError) as error:
            raise ProviderError(f"prometheus query failed: {_reason(error)}") from error
        if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            return [Sample({}, _number(result[1]), float(result[0]))]  # scalar result
        samples = []
        for item in result:
            timestamp, value = item["value"]
            samples.append(Sample(dict(item.get("metric", {})), _number(value), float(timestamp)))
        return samples

    def range_sync(self, query: str, start: datetime, end: datetime, step_seconds: float) -> list[Series]:
        """``range`` for callers already on a worker thread."""
        step = step_param(step_seconds)
        try:
            result = self._client.custom_query_range(query, start_time=start, end_time=end, step=step)
        except (PrometheusApiClientException, requests.RequestException, ValueError) as error:
            raise ProviderError(f"prometheus range query failed: {_reason(error)}") from error
        series = []
        for item in result:
            points = item.get("values", [])
            timestamps = np.fromiter((float(t) for t, _ in points), dtype=float, count=len(points))
            values = np.fromiter((_number(v) for _, v in points), dtype=float, count=len(points))
            series.append(Series(dict(item.get("metric", {})), timestamps, values))
        return series

    async def instant(self, query: str, at: datetime | None = None) -> list[Sample]:
        return await asyncio.to_thread(self.instant_sync, query, at)

    async def range(self, query: str, start: datetime, end: datetime, step_seconds: float) -> list[Series]:
        return await asyncio.to_thread(self.range_sync, query, start, end, step_seconds)

    async def is_online(self) -> bool:
        def check() -> bool:
            try:
                return bool(self._client.check_prometheus_connection())
            except requests.RequestException:
                return False

        return await asyncio.to_thread(check)


def single_value(samples: list[Sample]) -> float | None:
    """The one number an analysis query must return; None when there is no data (or NaN)."""
    if not samples:
        return None
    if len(samples) > 1:
        raise ProviderError(f"query returned {len(samples)} series; analysis needs exactly one (aggregate it)")
    value = samples[0].value
    return None if math.isnan(value) else value
