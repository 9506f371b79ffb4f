"""A self-contained HTML report: charts embedded as base64 data URIs and a table of what happened.

One file, no external CSS, scripts or images, so it can be attached to a ticket or opened offline.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import UTC, datetime

from mlaiops.report.model import TimelineEntry

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border-bottom: 1px solid #eee; padding: 0.3em 0.8em; text-align: left; vertical-align: top; }
td.good { color: #2e7d32; } td.bad { color: #c62828; } td.info { color: #546e7a; }
"""


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(
    title: str,
    images: Sequence[tuple[str, bytes]],
    timeline: Sequence[TimelineEntry],
    summary: str = "",
    generated: datetime | None = None,
) -> str:
    """The page: a title, an optional summary paragraph, each (caption, PNG), then the timeline table."""
    esc = html.escape
    stamp = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Generated {stamp}.</p>",
    ]
    if summary:
        parts.append(f"<p>{esc(summary)}</p>")
    if images:
        parts.append("<h2>Metrics</h2>")
    for caption, png in images:
        parts.append(
            f'<figure><img alt="{esc(caption)}" src="{data_uri(png)}"><figcaption>{esc(caption)}</figcaption></figure>'
        )
    parts.append("<h2>Timeline</h2>")
    if timeline:
        parts.append("<table><thead><tr><th>time (UTC)</th><th>object</th><th>what</th><th>details</th></tr></thead>")
        parts.append("<tbody>")
        for entry in sorted(timeline, key=lambda e: e.time):
            parts.append(
                f"<tr><td>{entry.time.astimezone(UTC):%Y-%m-%d %H:%M:%S}</td><td>{esc(entry.source)}</td>"
                f'<td class="{esc(entry.colour)}">{esc(entry.reason)}</td><td>{esc(entry.message)}</td></tr>'
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>Nothing was recorded.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
