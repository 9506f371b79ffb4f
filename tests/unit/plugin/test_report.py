"""Charts and the HTML report: real PNGs of the expected size with visible content, embedded in the page."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from matplotlib import image

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.metrics.provider import Series
from mlaiops.report import MetricSeries, Panel, TimelineEntry, draw_panel, render_html, story_timeline, write_report
from mlaiops.report.sources import rule_series

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pixels(png: bytes) -> np.ndarray:
    return image.imread(io.BytesIO(png), format="png")


def red_pixels(png: bytes) -> int:
    rgb = pixels(png)[..., :3]
    return int(((rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).sum())


def panel(anomalies: bool = True) -> Panel:
    stamps = np.array([(T0 + timedelta(seconds=10 * i)).timestamp() for i in range(60)])
    values = np.sin(np.arange(60) / 5) + 10
    score = np.zeros(60)
    if anomalies:
        values[40:45] = 20
        score[40:45] = 4
    series = MetricSeries(
        '{pod="a"}',
        stamps,
        values,
        expected=np.full(60, 10.0),
        lower=np.full(60, 8.5),
        upper=np.full(60, 11.5),
        score=score,
        band_source="replay",
    )
    actions = [
        TimelineEntry(T0 + timedelta(seconds=400), "AnomalyRule/r", "AnomalyFiring", "fired"),
        TimelineEntry(T0 + timedelta(seconds=460), "AnomalyRule/r", "AnomalyResolved", "resolved"),
    ]
    return Panel("AnomalyRule shop/r: latency", [series], actions)


def test_chart_is_a_png_of_the_requested_size_with_content() -> None:
    png = draw_panel(panel(), width=10, height=4, dpi=100)
    assert png.startswith(PNG_SIGNATURE)
    array = pixels(png)
    assert array.shape[:2] == (400, 1000)
    assert float(array[..., :3].std()) > 0.05  # not a blank canvas


def test_anomalous_points_and_bad_actions_are_drawn_red() -> None:
    calm = panel(anomalies=False)
    calm.actions = []
    assert red_pixels(draw_panel(panel())) > red_pixels(draw_panel(calm)) + 50


def test_an_empty_panel_still_draws_and_says_why() -> None:
    png = draw_panel(Panel("nothing", note="no data in the window"))
    assert pixels(png).shape[:2] == (400, 1000)


def test_html_embeds_each_png_and_lists_the_timeline_escaped() -> None:
    png = draw_panel(panel())
    entries = [
        TimelineEntry(T0 + timedelta(seconds=5), "ModelDeployment/fraud", "RolledBack", "v2 <slow>"),
        TimelineEntry(T0, "story", "1. Train", ""),
    ]
    page = render_html("Fraud <demo>", [("latency", png)], entries, generated=T0)
    assert "<title>Fraud &lt;demo&gt;</title>" in page
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    assert page.index("1. Train") < page.index("RolledBack")  # sorted by time
    assert "2026-11-27 08:00:05" in page and "v2 &lt;slow&gt;" in page and 'class="bad">RolledBack' in page


@dataclass
class Step:
    name: str
    started: float
    finished: float | None
    outcome: str = ""


@dataclass
class Story:
    t0: float
    steps: list[Step] = field(default_factory=list)


def test_story_steps_become_wall_clock_entries() -> None:
    story = Story(t0=100.0, steps=[Step("1. Train", 1.0, 31.0, "serving v1"), Step("2. Roll out", 40.0, None)])
    entries = story_timeline(story, now=T0 + timedelta(seconds=60), monotonic=160.0)
    assert [(e.time - T0).total_seconds() for e in entries] == [1.0, 31.0, 40.0, 60.0]
    assert [(e.reason, e.message, e.colour) for e in entries] == [
        ("1. Train", "", "info"),
        ("step done", "serving v1", "good"),
        ("2. Roll out", "", "info"),
        ("step failed", "2. Roll out", "bad"),
    ]


def test_write_report_without_prometheus_or_cluster_still_writes_a_page(tmp_path) -> None:
    story = Story(t0=0.0, steps=[Step("1. Train", 1.0, 2.0, "ok")])
    page = write_report(
        tmp_path / "out", story_timeline(story, now=T0, monotonic=10.0), None, queries={"latency": "up"}
    )
    text = page.read_text()
    assert page.name == "report.html" and "1. Train" in text and "no Prometheus URL given" in text
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == ["01-latency.png"]
    assert base64.b64encode((tmp_path / "out" / pngs[0]).read_bytes()).decode() in text


class Recorded:
    """A Prometheus stand-in that answers range queries from a dict (query -> series)."""

    def __init__(self, answers: dict[str, list[Series]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def range_sync(self, query: str, start: datetime, end: datetime, step: float) -> list[Series]:
        self.asked.append(query)
        return [
            s for s in self.answers.get(query, []) if len(s.timestamps) == 0 or s.timestamps[0] >= start.timestamp() - 1
        ]


def test_without_the_operator_band_the_rule_detector_is_replayed() -> None:
    spec = AnomalyRuleSpec.model_validate(
        {"query": "demo_value", "interval": "10s", "detector": {"type": "threshold", "upper": 50}}
    )
    stamps = np.array([(T0 + timedelta(seconds=10 * i)).timestamp() for i in range(30)])
    values = np.full(30, 10.0)
    values[20:23] = 100.0
    provider = Recorded({"demo_value": [Series({"pod": "a"}, stamps, values)]})
    series, note = rule_series(provider, "shop", "r", spec, T0, T0 + timedelta(seconds=290))  # type: ignore[arg-type]
    assert len(series) == 1 and series[0].band_source == "replay"
    assert list(np.flatnonzero(series[0].anomalous())) == [20, 21, 22]
    assert "re-computed here" in note
    assert any(q.startswith("mlaiops_anomaly_score{") for q in provider.asked)


def test_the_operator_band_is_used_when_prometheus_has_it() -> None:
    from mlaiops.detection.rules import fingerprint

    spec = AnomalyRuleSpec.model_validate({"query": "demo_value", "interval": "10s"})
    stamps = np.array([(T0 + timedelta(seconds=10 * i)).timestamp() for i in range(5)])
    key = fingerprint("shop", "r", {"pod": "a"})
    band = {
        part: [Series({"series": key, "rule": "r"}, stamps, np.full(5, value))]
        for part, value in (("score", 2.0), ("expected", 10.0), ("lower", 9.0), ("upper", 11.0))
    }
    answers = {"demo_value": [Series({"pod": "a"}, stamps, np.full(5, 30.0))]}
    answers.update({f'mlaiops_anomaly_{p}{{namespace="shop", rule="r"}}': s for p, s in band.items()})
    series, note = rule_series(Recorded(answers), "shop", "r", spec, T0, T0 + timedelta(seconds=40))  # type: ignore[arg-type]
    assert series[0].band_source == "operator" and note == ""
    assert list(series[0].upper) == [11.0] * 5 and series[0].anomalous().all()
