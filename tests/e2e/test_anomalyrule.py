"""AnomalyRule on real parts: an exporter pod whose value we change, real Prometheus scraping it,
the operator's rule going Normal -> Pending -> Firing -> Normal, Error while Prometheus is down, and
a restarted operator that warm-starts and keeps its state instead of firing again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlaiops_sandbox.testing.exporters import knob_exporter

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


def rule(namespace: str) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": {"name": "value-high", "labels": {"mlaiops.dev/signal": "test"}},
        "spec": {
            "query": f'demo_value{{namespace="{namespace}"}}',
            "interval": "2s",
            "fitWindow": "5m",
            "detector": {"type": "threshold", "upper": 50, "direction": "up"},
            "for": "4s",
            "keepFiringFor": "0s",
            "severity": "critical",
        },
    }


@pytest.fixture(scope="module")
def knob(cluster: Cluster) -> Iterator[tuple[str, Path]]:
    namespace = cluster.namespace("anomaly")
    folder = cluster.sandbox.dir / "volumes" / namespace / "knob"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "value").write_text("10")
    cluster.apply(knob_exporter(), namespace)
    cluster.apply(rule(namespace), namespace)
    yield namespace, folder / "value"


def status(cluster: Cluster, namespace: str) -> dict:
    return cluster.get("anomalyrules", namespace, "value-high").get("status", {})


def events(cluster: Cluster, namespace: str) -> list[str]:
    return [
        e.reason
        for e in cluster.core.list_namespaced_event(namespace, field_selector="involvedObject.name=value-high").items
    ]


def test_rule_goes_pending_then_firing_then_resolves(cluster: Cluster, knob: tuple[str, Path]) -> None:
    namespace, value = knob
    normal = wait_for(
        lambda: (s := status(cluster, namespace)).get("state") == "Normal" and s, timeout=60, what="Normal with data"
    )
    assert normal["series"][0]["value"] == 10 and normal["series"][0]["labels"]["pod"].startswith("exporter-")
    warm = next(c for c in normal["conditions"] if c["type"] == "WarmStart")  # says whether it learned
    assert warm["reason"] in ("Loaded", "NoHistory") and (warm["status"] == "True") == (warm["reason"] == "Loaded")
    firings = normal.get("firings") or 0
    value.write_text("100")
    seen: set[str] = set()

    def firing() -> bool:
        state = status(cluster, namespace).get("state")
        seen.add(state)
        return state == "Firing"

    wait_for(firing, timeout=60, interval=0.2, what="Firing")
    assert "Pending" in seen  # `for: 4s` at a 2 s interval: two anomalous evaluations are Pending first
    fired = status(cluster, namespace)
    assert fired["firings"] == firings + 1 and fired["firingSeries"] == 1
    series = fired["series"][0]
    assert series["state"] == "Firing" and series["value"] == 100 and series["score"] > 1
    condition = next(c for c in fired["conditions"] if c["type"] == "Firing")
    assert condition["status"] == "True"
    wait_for(lambda: "AnomalyFiring" in events(cluster, namespace), what="AnomalyFiring event")

    value.write_text("10")
    wait_for(lambda: status(cluster, namespace).get("state") == "Normal", timeout=60, what="resolved")
    wait_for(lambda: "AnomalyResolved" in events(cluster, namespace), what="AnomalyResolved event")
    assert status(cluster, namespace)["firings"] == firings + 1


def test_prometheus_down_is_error_and_nothing_fires(cluster: Cluster, knob: tuple[str, Path]) -> None:
    namespace, value = knob
    wait_for(lambda: status(cluster, namespace).get("state") == "Normal", timeout=60, what="Normal")
    firings = status(cluster, namespace).get("firings") or 0
    prometheus = cluster.sandbox.prometheus
    assert prometheus is not None
    prometheus.stop()
    try:
        value.write_text("100")  # would fire, but there is no data to know it
        errored = wait_for(
            lambda: (s := status(cluster, namespace)).get("state") == "Error" and s, timeout=30, what="Error"
        )
        ready = next(c for c in errored["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "QueryFailed") and "prometheus" in ready["message"]
        evaluations = errored["evaluations"]
        wait_for(lambda: status(cluster, namespace)["evaluations"] >= evaluations + 3, what="more evaluations")
        assert status(cluster, namespace).get("firings", 0) == firings
    finally:
        value.write_text("10")
        prometheus.start()
    wait_for(lambda: status(cluster, namespace).get("state") == "Normal", timeout=60, what="Normal again")


def test_restarted_operator_keeps_firing_state_without_firing_again(cluster: Cluster, knob: tuple[str, Path]) -> None:
    namespace, value = knob
    value.write_text("100")
    fired = wait_for(
        lambda: (s := status(cluster, namespace)).get("state") == "Firing" and s, timeout=60, what="Firing"
    )
    before_fit = fired["lastFit"]
    cluster.operator.restart(kill=True)  # SIGKILL: no chance to clean up
    refit = wait_for(
        lambda: (s := status(cluster, namespace)).get("lastFit") != before_fit and s,
        timeout=60,
        what="warm start after restart",
    )
    evaluations = refit["evaluations"]
    wait_for(lambda: status(cluster, namespace)["evaluations"] >= evaluations + 3, what="evaluations after restart")
    after = status(cluster, namespace)
    assert after["state"] == "Firing" and after["firings"] == fired["firings"]
    assert events(cluster, namespace).count("AnomalyFiring") == fired["firings"]
    value.write_text("10")
    wait_for(lambda: status(cluster, namespace).get("state") == "Normal", timeout=60, what="resolved after restart")


def test_multivariate_rule_joins_queries_per_entity(cluster: Cluster, knob: tuple[str, Path]) -> None:
    namespace, _ = knob
    cluster.apply(
        {
            "apiVersion": "mlaiops.dev/v1alpha1",
            "kind": "AnomalyRule",
            "metadata": {"name": "joint"},
            "spec": {
                "queries": [
                    {"name": "value", "query": f'demo_value{{namespace="{namespace}"}}'},
                    {"name": "up", "query": f'up{{namespace="{namespace}"}}'},
                ],
                "interval": "2s",
                "detector": {"type": "isolationForest"},
            },
        },
        namespace,
    )

    def joint() -> dict:
        return cluster.get("anomalyrules", namespace, "joint").get("status", {})

    status = wait_for(lambda: (s := joint()).get("series") and s, timeout=60, what="joined series")
    (series,) = status["series"]
    assert series["labels"]["pod"].startswith("exporter-") and "__name__" not in series["labels"]
    assert series["value"] == 10 and status["state"] == "Normal"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
