"""The sandbox's real Prometheus discovers annotated pods, scrapes their mapped ports, and can be stopped."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from mlaiops_sandbox.cluster import Sandbox

from tests.integration.runtime.helpers import OWN_IMAGE, Kube, http_get, wait_for

pytestmark = pytest.mark.integration
NS = "rt-prom"

EXPORTER = """\
import sys, time
from prometheus_client import Gauge, start_http_server
Gauge("sandbox_test_value", "a value the test looks for").set(42)
start_http_server(int(sys.argv[1]), addr="127.0.0.1")
while True:
    time.sleep(1)
"""


def query(url: str, promql: str) -> list[dict[str, Any]]:
    body = json.loads(http_get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})))
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture(scope="module")
def exporter(kube: Kube) -> str:
    kube.namespace(NS)
    kube.create(
        f"/api/v1/namespaces/{NS}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "exporter",
                "labels": {"app.kubernetes.io/name": "exporter", "mlaiops.dev/model": "iris", "other": "x"},
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": "9100",
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "exporter",
                        "image": OWN_IMAGE,
                        "command": ["python", "-c", EXPORTER, "9100"],
                        "ports": [{"name": "metrics", "containerPort": 9100}],
                    }
                ],
            },
        },
    )
    return "exporter"


def test_prometheus_scrapes_annotated_pods_with_their_labels(sandbox: Sandbox, exporter: str) -> None:
    url = sandbox.prometheus_url
    assert url is not None
    up = wait_for(lambda: query(url, f'up{{pod="{exporter}"}} == 1'), 30, interval=0.5, what="up == 1")
    labels = up[0]["metric"]
    assert labels["namespace"] == NS and labels["pod"] == exporter and labels["container"] == "exporter"
    assert labels["app_kubernetes_io_name"] == "exporter" and labels["mlaiops_dev_model"] == "iris"
    assert "other" not in labels and labels["job"] == "kubernetes-pods"
    value = wait_for(lambda: query(url, 'sandbox_test_value{mlaiops_dev_model="iris"}'), 10, what="gauge")
    assert value[0]["value"][1] == "42"
    assert value[0]["metric"]["pod"] == exporter


def test_stopping_prometheus_makes_queries_fail_until_started_again(sandbox: Sandbox, exporter: str) -> None:
    prom = sandbox.prometheus
    assert prom is not None
    url = prom.url
    wait_for(lambda: query(url, f'up{{pod="{exporter}"}} == 1'), 30, interval=0.5, what="up == 1")
    prom.stop()
    try:
        with pytest.raises(urllib.error.URLError):
            query(url, "up")
    finally:
        prom.start()
    assert prom.url == url  # same address after a restart
    wait_for(lambda: query(url, f'up{{pod="{exporter}"}} == 1'), 30, interval=0.5, what="up == 1 after restart")


def test_deleted_pod_is_no_longer_a_target(sandbox: Sandbox, kube: Kube, exporter: str) -> None:
    url = sandbox.prometheus_url
    assert url is not None
    kube.delete(f"/api/v1/namespaces/{NS}/pods/{exporter}")

    def dropped() -> bool:
        targets = json.loads(http_get(f"{url}/api/v1/targets"))["data"]["activeTargets"]
        return not [t for t in targets if t["labels"].get("pod") == exporter]

    wait_for(dropped, 30, interval=0.5, what="the exporter target removed")


def test_a_port_it_chose_that_is_taken_before_prometheus_binds_it_is_swapped(tmp_path: Path) -> None:
    """Parallel test workers pick free ports at the same time: the one the sandbox chose can be bound by
    another process before Prometheus binds it. Until its first start, the sandbox moves to a new port; a
    port given by the caller, or one already handed out, is kept (restarts must not move Prometheus)."""
    from mlaiops_sandbox.runtime.prometheus import PortTaken, Prometheus

    server = Prometheus(tmp_path / "chosen")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", server.port))
        holder.listen()
        taken = server.port
        server.start()
        try:
            assert server.port != taken and "Ready" in http_get(f"{server.url}/-/ready")
        finally:
            server.stop()
        server.start()  # a restart keeps the port it ended up with
        try:
            assert "Ready" in http_get(f"{server.url}/-/ready")
        finally:
            server.stop()
        given = Prometheus(tmp_path / "given", port=taken)
        with pytest.raises(PortTaken, match=f"127.0.0.1:{taken}"):
            given.start()
