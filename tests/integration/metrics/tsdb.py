"""A real Prometheus serving fixed, known series: OpenMetrics text written as TSDB blocks with promtool."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlaiops_sandbox.runtime.prometheus import Prometheus


@contextmanager
def prometheus_serving(directory: Path, openmetrics: str) -> Iterator[Prometheus]:
    """Prometheus on ``directory`` with ``openmetrics`` (ending in ``# EOF``) as its only data."""
    source = directory / "series.om"
    source.write_text(openmetrics)
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(directory / "data")],
        check=True,
        capture_output=True,
    )
    server = Prometheus(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
