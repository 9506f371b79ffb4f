"""Reports: PNG charts of metrics with their expected band, anomalies and actions, in one HTML page.

``write_report`` is what ``make demo`` calls at its end; ``kubectl mlaiops plot`` draws one chart
with the same code. Drawing uses matplotlib's Agg canvas and never touches the network; the only
I/O is reading Prometheus and the cluster when asked to.

matplotlib is imported only by the drawing functions (``draw_panel``, ``write_report``), so the
data model and timelines stay usable without it (``kubectl mlaiops status`` does not need it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlaiops.report.model import MetricSeries, Panel, TimelineEntry

if TYPE_CHECKING:
    from mlaiops.report.build import StoryLike, story_timeline, write_report
    from mlaiops.report.chart import draw_panel
    from mlaiops.report.html import render_html

_LAZY = {
    "StoryLike": "mlaiops.report.build",
    "story_timeline": "mlaiops.report.build",
    "write_report": "mlaiops.report.build",
    "draw_panel": "mlaiops.report.chart",
    "render_html": "mlaiops.report.html",
}

__all__ = [
    "MetricSeries",
    "Panel",
    "StoryLike",
    "TimelineEntry",
    "draw_panel",
    "render_html",
    "story_timeline",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlaiops.report' has no attribute {name!r}")
