"""The operator process itself: kopf's liveness endpoint and the operator's own /metrics."""

from __future__ import annotations

import time
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


def test_timer_runs_are_neither_logged_nor_posted_as_events(cluster: Cluster) -> None:
    """A playbook's reconcile timer runs every second; its successes must not fill the log (or Events)."""
    namespace = cluster.namespace("quiet-log")
    cluster.apply(
        {
            "apiVersion": "mlaiops.dev/v1alpha1",
            "kind": "RemediationPlaybook",
            "metadata": {"name": "quiet"},
            "spec": {
                "triggers": [{"rules": [{"name": "latency"}], "severity": "warning"}],
                "actions": [
                    {
                        "name": "tell",
                        "type": "notify",
                        "notify": {"urlSecretRef": {"name": "mlaiops-notify", "key": "url"}},
                    }
                ],
            },
        },
        namespace,
    )
    wait_for(lambda: cluster.get("remediationplaybooks", namespace, "quiet").get("status"), what="playbook status")
    time.sleep(3)  # three more timer runs
    log = cluster.operator.log.read_text()
    assert "Timer 'reconcile' succeeded" not in log and "Handler 'reconcile' succeeded" not in log
    events = cluster.core.list_namespaced_event(namespace).items
    assert not [e.message for e in events if "succeeded" in (e.message or "")]
