"""The Alertmanager receiver on real parts: Debian's prometheus-alertmanager routes alerts posted to its
own API (/api/v2/alerts) to the operator's webhook receiver (payload version 4), with the bearer token
of its http_config; a playbook triggered by source Alertmanager scales the workload, and the alert's
resolution verifies the step. Requests without the token, and alerts whose namespace label names
another namespace (or none), start nothing.

The receiver is off in the session operator (no credential): these tests run their own operator
with a token file, while the session operator steps aside.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlaiops_sandbox.testing import OperatorProcess

from tests.e2e.conftest import Cluster, free_port, receiver_operator, wait_for
from tests.e2e.test_remediation import playbook, step, web_deployment

pytestmark = [
    pytest.mark.integration,
]


class Alertmanager:
    def __init__(self, folder: Path, receiver: str, token_file: Path) -> None:
        self.port = free_port()
        webhook = {
            "url": receiver,
            "send_resolved": True,
            "http_config": {"authorization": {"credentials_file": str(token_file)}},
        }
        config = {
            "route": {
                "receiver": "mlaiops",
                "group_by": ["alertname", "namespace"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1m",
            },
            "receivers": [{"name": "mlaiops", "webhook_configs": [webhook]}],
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


@dataclass
class Receiver:
    """The test's own operator, serving the receiver on 127.0.0.1 with a bearer token."""

    operator: OperatorProcess
    port: int
    token: str

    def post(self, body: dict[str, Any], authorization: str | None) -> int:
        """Status of a POST straight to the receiver (as a pod that is not Alertmanager would send it)."""
        headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/alertmanager", json.dumps(body).encode(), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def accepted(self) -> float:
        """Webhook requests the receiver accepted (from the operator's /metrics)."""
        url = f"http://127.0.0.1:{self.operator.env['MLAIOPS_METRICS_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith('mlaiops_alertmanager_requests_total{outcome="accepted"}'):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture(scope="module")
def receiver(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    with receiver_operator(cluster, tmp_path_factory.mktemp("receiver")) as (operator, port, token):
        made = Receiver(operator, port, token)
        wait_for(lambda: made.post({"alerts": []}, f"Bearer {token}") == 200, timeout=60, what="the receiver")
        yield made


@pytest.fixture
def alertmanager(receiver: Receiver, tmp_path: Path) -> Iterator[Alertmanager]:
    (tmp_path / "token").write_text(receiver.token)
    made = Alertmanager(tmp_path, f"http://127.0.0.1:{receiver.port}/alertmanager", tmp_path / "token")
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


def test_unauthenticated_forged_and_cross_namespace_alerts_start_nothing(
    cluster: Cluster, receiver: Receiver, alertmanager: Alertmanager
) -> None:
    namespace = cluster.namespace("rem-am-victim")
    try:
        cluster.apply(web_deployment(), namespace)
        trigger = {"source": "Alertmanager", "matchers": ['alertname="HighLatency"']}  # any namespace label
        cluster.apply(
            playbook(
                [{"name": "scale-out", "type": "scale", "scale": {"replicas": 3}, "verify": {"within": "60s"}}],
                triggers=[trigger],
                target={"kind": "Deployment", "name": "web"},
            ),
            namespace,
        )
        labels = {"alertname": "HighLatency", "namespace": namespace, "severity": "critical"}
        forged = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": labels}]}
        # Straight to the receiver, from anywhere but Alertmanager: no token, a wrong one, another scheme.
        for authorization in (None, "Bearer not-the-token", f"Basic {receiver.token}", receiver.token):
            assert receiver.post(forged, authorization) == 401
        # Through the authenticated Alertmanager, but speaking for another namespace, or for none.
        before = receiver.accepted()
        started = datetime.now(UTC).replace(microsecond=0)
        alertmanager.post_alert({**labels, "namespace": "attacker-ns"}, started)
        alertmanager.post_alert({"alertname": "HighLatency", "severity": "critical"}, started)
        wait_for(lambda: receiver.accepted() >= before + 2, timeout=60, what="both alerts delivered")
        time.sleep(4)  # four reconcile passes of the playbook

        def executions() -> list[dict]:
            status = cluster.get("remediationplaybooks", namespace, "fix").get("status") or {}
            return status.get("executions") or []

        assert executions() == []
        assert cluster.apps.read_namespaced_deployment("web", namespace).spec.replicas == 1
        # The same alert for the playbook's own namespace does start it: the refusals above were the rules.
        alertmanager.post_alert(labels, started)
        running = wait_for(lambda: (e := executions()) and e[0], timeout=60, what="execution from the alert")
        assert running["trigger"] == "alert:HighLatency" and len(executions()) == 1
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
