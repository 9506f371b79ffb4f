"""Every example query in docs/metrics.md is PromQL a real Prometheus accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlaiops_sandbox.runtime.prometheus import Prometheus

from mlaiops.metricsdoc import EXAMPLES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    directory: Path = tmp_path_factory.mktemp("prometheus")
    server = Prometheus(directory)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("metric", sorted(EXAMPLES))
def test_the_example_query_parses(prometheus: Prometheus, metric: str) -> None:
    answer = requests.get(f"{prometheus.url}/api/v1/query", params={"query": EXAMPLES[metric]}, timeout=10).json()
    assert answer["status"] == "success", answer
