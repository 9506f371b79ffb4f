"""The Alertmanager receiver on real parts: Debian's prometheus-alertmanager routes alerts posted to its
own API (/api/v2/alerts) to the operator's webhook receiver (payload version 4); a playbook triggered
by source Alertmanager scales the workload, and the alert's resolution verifies the step."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Cluster, free_port, wait_for
from tests.e2e.test_remediation import playbook, step, web_deployment

pytestmark = [
    pytest.mark.integration,
]


class Alertmanager:
    def __init__(self, folder: Path, receiver: str) -> None:
        self.port = free_port()
        config = {
            "route": {
                "receiver": "mlaiops",
                "group_by": ["alertname", "namespace"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1m",
            },
            "receivers": [{"name": "mlaiops", "webhook_configs": [{"url": receiver, "send_resolved": True}]}],
        }
        (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.process = subprocess.Popen(
            [
                "prometheus-alertmanager",
                f"--config.file={folder / 'alertmanager.yml'}",
                f"--storage.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=(folder / "alertmanager.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.get("/-/ready"), timeout=30, what="Alertmanager ready")

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            return response.read()

    def post_alert(self, labels: dict[str, str], starts: datetime, ends: datetime | None = None) -> None:
        alert = {"labels": labels, "startsAt": starts.isoformat().replace("+00:00", "Z")}
        if ends is not None:
            alert["endsAt"] = ends.isoformat().replace("+00:00", "Z")
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v2/alerts",
            data=json.dumps([alert]).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def alertmanager(cluster: Cluster, tmp_path: Path) -> Iterator[Alertmanager]:
    port = free_port()
    cluster.operator.env["MLAIOPS_ALERTMANAGER_PORT"] = str(port)
    cluster.operator.env["MLAIOPS_ALERTMANAGER_HOST"] = "127.0.0.1"
    cluster.operator.restart(kill=False)
    made = Alertmanager(tmp_path, f"http://127.0.0.1:{port}/alertmanager")
    yield made
    made.stop()


def test_alertmanager_alert_triggers_a_playbook_and_its_resolution_verifies(
    cluster: Cluster, alertmanager: Alertmanager
) -> None:
    namespace = cluster.namespace("rem-alertmanager")
    try:
        cluster.apply(web_deployment(), namespace)
        cluster.apply(
            playbook(
                [{"name": "scale-out", "type": "scale", "scale": {"replicas": 3}, "verify": {"within": "60s"}}],
                triggers=[
                    {
                        "source": "Alertmanager",
                        "severity": "warning",
                        "matchers": ['alertname="HighLatency"', f'namespace="{namespace}"'],
                    }
                ],
                target={"kind": "Deployment", "name": "web"},
            ),
            namespace,
        )
        labels = {"alertname": "HighLatency", "namespace": namespace, "severity": "critical", "service": "web"}
        other = {**labels, "alertname": "DiskFull"}  # does not match the trigger
        started = datetime.now(UTC).replace(microsecond=0)
        alertmanager.post_alert(other, started)
        alertmanager.post_alert(labels, started)

        def executions() -> list[dict]:
            status = cluster.get("remediationplaybooks", namespace, "fix").get("status") or {}
            return status.get("executions") or []

        running = wait_for(
            lambda: (e := executions()) and step(e[0], "scale-out") and e[0],
            timeout=60,
            what="execution from the alert",
        )
        assert running["trigger"] == "alert:HighLatency" and len(executions()) == 1
        assert running["since"].replace("Z", "+00:00") == started.isoformat()
        wait_for(lambda: cluster.apps.read_namespaced_deployment("web", namespace).spec.replicas == 3, what="scaled")
        alertmanager.post_alert(labels, started, ends=datetime.now(UTC) - timedelta(seconds=1))  # resolved
        done = wait_for(
            lambda: (e := executions()[0])["state"] == "Succeeded" and e, timeout=60, what="verified by the resolution"
        )
        assert done["reason"] == "Verified" and step(done, "scale-out")["verified"] is True
        incident = cluster.get("incidents", namespace, done["incident"])["status"]
        assert incident["anomalies"][0]["source"] == "Alertmanager"
        assert incident["anomalies"][0]["rule"] == "HighLatency"
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
