"""What the report gained for the demo's later steps: one-sided bands, short titles, the rule's own step."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from matplotlib import image

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.metrics.provider import Series
from mlaiops.report import MetricSeries, Panel, draw_panel
from mlaiops.report.build import model_queries
from mlaiops.report.chart import _wrapped
from mlaiops.report.sources import rule_series

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def pixels(png: bytes) -> np.ndarray:
    return image.imread(io.BytesIO(png), format="png")[..., :3]


def threshold_panel(upper: float | None) -> Panel:
    stamps = np.array([(T0 + timedelta(seconds=2 * i)).timestamp() for i in range(40)])
    values = np.full(40, 5.0)
    values[20:30] = 30.0
    series = MetricSeries(
        "value",
        stamps,
        values,
        lower=np.full(40, -np.inf),
        upper=np.full(40, np.nan if upper is None else upper),
        band_source="replay",
    )
    return Panel("AnomalyRule shop/load", [series])


def test_a_threshold_is_drawn_as_a_line_although_the_band_has_no_lower_edge() -> None:
    with_limit, without = pixels(draw_panel(threshold_panel(20.0))), pixels(draw_panel(threshold_panel(None)))
    assert np.abs(with_limit - without).sum() > 100  # the dotted limit line (and its legend entry)


def test_long_titles_are_cut_to_two_lines() -> None:
    title = "AnomalyRule shop/r: " + 'sum(rate(x{a="b"}[10s])) / ' * 20
    lines = _wrapped(title, width=60).splitlines()
    assert len(lines) == 2 and all(len(line) <= 60 for line in lines) and lines[1].endswith("…")
    assert _wrapped("short") == "short"


class Recorded:
    """Answers range queries from a dict and records the step of each."""

    def __init__(self, answers: dict[str, list[Series]]) -> None:
        self.answers, self.steps = answers, []

    def range_sync(self, query: str, start: datetime, end: datetime, step: float) -> list[Series]:
        self.steps.append((query, step))
        return [s for s in self.answers.get(query, []) if s.timestamps[0] >= start.timestamp() - 1]


def test_a_replayed_band_is_computed_at_the_rules_interval() -> None:
    spec = AnomalyRuleSpec.model_validate(
        {"query": "load", "interval": "2s", "detector": {"type": "threshold", "upper": 10}}
    )
    stamps = np.array([(T0 + timedelta(seconds=2 * i)).timestamp() for i in range(30)])
    provider = Recorded({"load": [Series({}, stamps, np.where(np.arange(30) > 20, 30.0, 5.0))]})
    series, _ = rule_series(provider, "shop", "r", spec, T0, T0 + timedelta(seconds=60))  # type: ignore[arg-type]
    # The window and its warm-up history at the rule's 2 s, not the 1 s display step: what the operator saw.
    assert [step for query, step in provider.steps if query == "load"] == [2.0, 2.0]
    assert list(np.flatnonzero(series[0].anomalous())) == list(range(21, 30))


def test_model_panels_include_the_request_rate_by_track() -> None:
    md = {"metadata": {"namespace": "fraud", "name": "m"}, "spec": {}}
    queries = model_queries(md)
    assert 'sum by (track) (rate(mlaiops_model_requests_total{namespace="fraud", model="m"}[10s]))' in queries.values()


def test_the_demos_drift_rule_is_not_plotted_as_a_multivariate_rule() -> None:
    """The demo's drift rule has no query to plot: the report says where its scores are instead."""
    from mlaiops_demo import objects

    from mlaiops.metrics.provider import ProviderError

    spec = AnomalyRuleSpec.model_validate(objects.drift_rule()["spec"])
    provider = Recorded({})
    with pytest.raises(ProviderError, match="a drift rule is plotted one feature at a time") as error:
        rule_series(provider, "shop", "r", spec, T0, T0 + timedelta(seconds=60))  # type: ignore[arg-type]
    assert "multivariate" not in str(error.value) and provider.steps == []


def test_histograms_are_drawn_one_row_each() -> None:
    from mlaiops.report.chart import draw_histograms
    from mlaiops.report.model import Histogram

    one = Histogram("stable/v1", (0.1, 0.2, 0.7), (0.7, 0.2, 0.1))
    png = draw_histograms("feature x", [one, one], width=5, height=2, dpi=50)
    pixels = image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (200, 250) and float(np.std(pixels[..., :3])) > 0.05
    blank = image.imread(io.BytesIO(draw_histograms("nothing", [], width=5, height=2, dpi=50)), format="png")
    assert blank.shape[:2] == (100, 250)
