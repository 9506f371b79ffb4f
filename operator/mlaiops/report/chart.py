"""Draw one panel as a PNG: each series, its expected band, anomalous points, and the actions.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global state, no display and
no network), so it is safe in tests, in the demo and in a kubectl plugin alike.
"""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, datetime
from typing import Any

import numpy as np

try:
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError as error:  # an optional dependency: say how to get it
    raise ImportError("drawing charts needs matplotlib: pip install 'mlaiops[plot]'") from error

from mlaiops.report.model import Histogram, Panel

TONE_COLOURS = {"good": "#2e7d32", "bad": "#c62828", "info": "#546e7a"}
SERIES_COLOURS = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#4e342e")
MAX_ACTION_LABELS = 12
LABEL_CHARS = 30
TITLE_CHARS = 140


def _wrapped(title: str, width: int = TITLE_CHARS, lines: int = 2) -> str:
    """A long title (a rule's PromQL) on at most ``lines`` lines, cut with an ellipsis; the HTML caption has it all."""
    wrapped = textwrap.wrap(" ".join(title.split()), width) or [""]
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], wrapped[lines - 1][: width - 1] + "…"]
    return "\n".join(wrapped)


def _times(timestamps: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(float(t), UTC) for t in timestamps]


def _label_actions(axes: Any, panel: Panel) -> None:
    """Name the action lines along the bottom; lines closer than 2% of the width share one label."""
    if not panel.actions:
        return
    left, right = axes.get_xlim()
    gap = (right - left) * 0.02
    labels: list[tuple[float, list[str], str]] = []
    for action in sorted(panel.actions, key=lambda a: a.time):
        x = mdates.date2num(action.time)
        colour = TONE_COLOURS.get(action.colour, TONE_COLOURS["info"])
        if labels and x - labels[-1][0] < gap:
            if action.reason not in labels[-1][1]:
                labels[-1][1].append(action.reason)
            continue
        labels.append((x, [action.reason], colour))
    transform = axes.get_xaxis_transform()
    for x, reasons, colour in labels[:MAX_ACTION_LABELS]:
        first = reasons[0] if len(reasons[0]) <= LABEL_CHARS else reasons[0][: LABEL_CHARS - 1] + "…"
        text = first if len(reasons) == 1 else f"{first} +{len(reasons) - 1}"
        axes.text(
            x, 0.02, f" {text}", transform=transform, rotation=90, va="bottom", ha="right", fontsize=7, color=colour
        )


def draw_panel(panel: Panel, width: float = 10.0, height: float = 4.0, dpi: int = 100) -> bytes:
    """The panel as PNG bytes, ``width`` x ``height`` inches at ``dpi`` (10 x 4 at 100: 1000 x 400 pixels)."""
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    # Any: matplotlib plots datetimes through its units registry, but its stubs accept only numbers.
    axes: Any = figure.add_subplot()
    axes.set_title(_wrapped(panel.title), fontsize=10, loc="left")
    plotted = False
    for index, series in enumerate(panel.series):
        if len(series.timestamps) == 0:
            continue
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        times = _times(series.timestamps)
        if series.lower is not None and series.upper is not None:
            lower = np.asarray(series.lower, dtype=float)
            upper = np.asarray(series.upper, dtype=float)
            finite = np.isfinite(lower) & np.isfinite(upper)
            if finite.any():
                axes.fill_between(
                    times,
                    np.where(finite, lower, np.nan),
                    np.where(finite, upper, np.nan),
                    color=colour,
                    alpha=0.15,
                    linewidth=0,
                    label=f"{series.label} band ({series.band_source})" if series.band_source else None,
                )
            for edge, name in ((lower, "lower"), (upper, "upper")):  # a one-sided band (a threshold) is a line
                alone = np.isfinite(edge) & ~finite
                if alone.any():
                    axes.plot(
                        times,
                        np.where(alone, edge, np.nan),
                        color=colour,
                        linestyle=":",
                        linewidth=1.2,
                        label=f"{series.label} {name} limit ({series.band_source})" if series.band_source else None,
                    )
        if series.expected is not None:
            axes.plot(times, series.expected, color=colour, linestyle="--", linewidth=0.8, alpha=0.8)
        axes.plot(times, series.values, color=colour, linewidth=1.4, label=series.label)
        mask = series.anomalous()
        if mask.any():
            axes.scatter(
                [t for t, hit in zip(times, mask, strict=True) if hit],
                np.asarray(series.values, dtype=float)[mask],
                color=TONE_COLOURS["bad"],
                s=18,
                zorder=5,
                label=f"{series.label} anomalous (score > 1)",
            )
        plotted = True
    if not plotted:
        axes.text(0.5, 0.5, panel.note or "no data", transform=axes.transAxes, ha="center", va="center", color="#777")
    for action in panel.actions:
        colour = TONE_COLOURS.get(action.colour, TONE_COLOURS["info"])
        axes.axvline(action.time, color=colour, linewidth=1, alpha=0.8)
    _label_actions(axes, panel)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))
    axes.set_xlabel("time (UTC)", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.grid(True, alpha=0.3)
    if plotted:
        axes.legend(fontsize=7, loc="upper left")
    if panel.note and plotted:
        figure.text(0.01, 0.01, panel.note, fontsize=7, color="#555")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def draw_histograms(
    title: str, histograms: list[Histogram], width: float = 10.0, height: float = 3.2, dpi: int = 100
) -> bytes:
    """One row per histogram, reference and live shares as bars side by side over the same bins, as PNG
    bytes (``width`` inches wide, ``height`` inches a row, at ``dpi``)."""
    rows = max(len(histograms), 1)
    figure = Figure(figsize=(width, height * rows), dpi=dpi)
    FigureCanvasAgg(figure)
    figure.suptitle(_wrapped(title), fontsize=10, x=0.01, ha="left")
    if not histograms:
        axes: Any = figure.add_subplot()
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", va="center", color="#777")
    for row, histogram in enumerate(histograms, start=1):
        axes = figure.add_subplot(rows, 1, row)
        bins = np.arange(len(histogram.reference))
        axes.bar(bins - 0.2, histogram.reference, width=0.4, color=SERIES_COLOURS[0], label=histogram.reference_label)
        axes.bar(bins + 0.2, histogram.live, width=0.4, color=SERIES_COLOURS[1], label=histogram.live_label)
        axes.set_title(_wrapped(histogram.title, lines=1), fontsize=9, loc="left")
        axes.set_xticks(bins)
        axes.set_xlabel("bin of the reference profile", fontsize=8)
        axes.set_ylabel("share of rows", fontsize=8)
        axes.tick_params(labelsize=8)
        axes.grid(True, axis="y", alpha=0.3)
        axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
