"""The operator process itself: kopf's liveness endpoint and the operator's own /metrics."""

from __future__ import annotations

import urllib.request

import pytest

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


def test_liveness_endpoint_answers(cluster: Cluster) -> None:
    port = cluster.operator.env["MLAIOPS_HEALTH_PORT"]
    wait_for(lambda: fetch(f"http://127.0.0.1:{port}/healthz") is not None, what="liveness endpoint")


def test_metrics_endpoint_exports_operator_metrics(cluster: Cluster) -> None:
    port = cluster.operator.env["MLAIOPS_METRICS_PORT"]
    text = wait_for(lambda: fetch(f"http://127.0.0.1:{port}/metrics"), what="metrics endpoint")
    assert "mlaiops_rollout_events_total" in text and "mlaiops_anomaly_score" in text
