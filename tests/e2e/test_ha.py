"""Two operator replicas elect one leader through the Lease: only it acts; killing it hands over.

The replicas are real `mlaiops run` processes with their own pod names and short election
timings. The session operator steps aside (SIGTERM, which releases the Lease) while they run.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from mlaiops_sandbox.testing.plugin import operator_for

from tests.e2e.conftest import LEASE_NAMESPACE, Cluster, free_port, wait_for
from tests.e2e.test_retrain import policy, prepare, request, runs

pytestmark = pytest.mark.integration

# Short, to keep the handover quick, but with room for a renewal on a machine loaded by the other test workers:
# at 4 s / 3 s a slow renewal once handed leadership over before the test killed anyone.
TIMING = {"MLAIOPS_LEASE_DURATION": "10", "MLAIOPS_RENEW_DEADLINE": "8", "MLAIOPS_RETRY_PERIOD": "0.5"}
WEBHOOK = {"MLAIOPS_WEBHOOK_LISTEN": "127.0.0.1", "MLAIOPS_WEBHOOK_INSECURE": "true"}
HANDOVER_TIMEOUT = 10 + 30  # the lease duration, plus a standby's kopf start on a busy machine


class Replica:
    def __init__(self, cluster: Cluster, name: str, log: Path) -> None:
        self.name = name
        self.operator = operator_for(
            cluster.sandbox,
            log,
            extra_env={"POD_NAME": name, "MLAIOPS_WEBHOOK_PORT": str(free_port()), **TIMING, **WEBHOOK},
            args=("-A",),
        )

    def get(self, port_key: str, path: str) -> Any:
        url = f"http://127.0.0.1:{self.operator.env[port_key]}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def leading(self) -> float | None:
        """The mlaiops_leader gauge of this replica (None until its metrics answer)."""
        for line in self.get("MLAIOPS_METRICS_PORT", "/metrics").splitlines():
            if line.startswith("mlaiops_leader{") and f'identity="{self.name}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def admission(self, obj: dict[str, Any]) -> dict[str, Any]:
        """What this replica's webhook answers to an AdmissionReview, as the API server would send it."""
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "review-1",
                "kind": {"group": "mlaiops.dev", "version": "v1alpha1", "kind": obj["kind"]},
                "resource": {"group": "mlaiops.dev", "version": "v1alpha1", "resource": "modeldeployments"},
                "operation": "CREATE",
                "userInfo": {"username": "tester"},
                "object": obj,
            },
        }
        url = f"http://127.0.0.1:{self.operator.env['MLAIOPS_WEBHOOK_PORT']}/validate-modeldeployment"
        request = urllib.request.Request(url, json.dumps(review).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["response"]

    def health(self) -> dict[str, Any]:
        return json.loads(self.get("MLAIOPS_HEALTH_PORT", "/healthz"))

    def log(self) -> str:
        return self.operator.log.read_text()


@pytest.fixture
def replicas(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    cluster.operator.stop()  # graceful: the session operator releases the Lease
    pair = (Replica(cluster, "ha-a", tmp_path / "a.log"), Replica(cluster, "ha-b", tmp_path / "b.log"))
    try:
        for replica in pair:
            replica.operator.start()
        yield pair
    finally:
        for replica in pair:
            replica.operator.stop()
        cluster.operator.start()


def lease(cluster: Cluster) -> client.V1LeaseSpec:
    return client.CoordinationV1Api(cluster.api).read_namespaced_lease("mlaiops-operator", LEASE_NAMESPACE).spec


def model_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"storageUri": "file:///models/fraud-v1.joblib", "version": "v1"},
            "runtime": {"image": "registry.invalid/team/custom-server:1.0", "port": 9000},
            "replicas": 1,
        },
    }


def deployments(cluster: Cluster, namespace: str) -> list[str]:
    return sorted(d.metadata.name for d in cluster.apps.list_namespaced_deployment(namespace).items)


def ready(cluster: Cluster, namespace: str, name: str) -> bool:
    return cluster.get("modeldeployments", namespace, name).get("status", {}).get("phase") == "Ready"


def events(cluster: Cluster, namespace: str, name: str) -> list[str]:
    items = cluster.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    return sorted(f"{e.reason}: {e.message}" for e in items if e.source.component != "sandbox")


def test_one_replica_acts_and_a_standby_takes_over_without_repeating(
    cluster: Cluster, replicas: tuple[Replica, Replica]
) -> None:
    holder = wait_for(lambda: lease(cluster).holder_identity, what="a leader")
    leader, standby = replicas if holder == replicas[0].name else replicas[::-1]
    wait_for(lambda: leader.leading() == 1 and standby.leading() == 0, what="leadership on both replicas' metrics")
    expected = {"identity": standby.name, "leader": False, "holder": leader.name}
    wait_for(lambda: standby.health() == expected, what="the standby's /healthz naming the leader")
    transitions = lease(cluster).lease_transitions

    # The standby answers the validating webhook (the Service reaches every replica), acting on nothing.
    invalid = model_deployment("refused")
    invalid["spec"]["rollout"] = {"canary": {"steps": [{"weight": 50}, {"weight": 25}]}}
    refused = wait_for(lambda: standby.admission(invalid), what="the standby's webhook")
    assert refused["uid"] == "review-1" and refused["allowed"] is False
    assert "steps[1].weight (25) must be greater than steps[0].weight (50)" in refused["status"]["message"]
    assert standby.admission(model_deployment("fine"))["allowed"] is True

    ns = prepare(cluster, "ha")
    cluster.apply(model_deployment("first"), ns)
    wait_for(lambda: ready(cluster, ns, "first"), timeout=60, what="first Ready")
    assert deployments(cluster, ns) == ["first-stable"]
    cluster.apply(policy(minimum=0.5), ns)
    request(cluster, ns, "before-failover")
    run = wait_for(lambda: (r := runs(cluster, ns)) and r[0]["phase"] == "Promoted" and r[0], timeout=90, what="run")
    # kopf posts Events from a queue after the status patch: a loaded machine once showed the phase first
    retrain_events = wait_for(
        lambda: (
            (seen := events(cluster, ns, "fraud-retrain")) and any(e.startswith("Promoted:") for e in seen) and seen
        ),
        timeout=30,
        what="the run's Promoted Event",
    )
    first_events = events(cluster, ns, "first")
    assert "kopf." not in standby.log() and "kopf.objects" in leader.log()  # kopf never ran on the standby

    leader.operator.stop(kill=True)
    wait_for(lambda: lease(cluster).holder_identity == standby.name, timeout=HANDOVER_TIMEOUT, what="handover")
    assert lease(cluster).lease_transitions == transitions + 1
    wait_for(lambda: standby.leading() == 1, what="the new leader's gauge")
    # Its kopf took the webhook port over from the standby server.
    assert wait_for(lambda: standby.admission(invalid), what="the leader's webhook")["allowed"] is False

    cluster.apply(model_deployment("second"), ns)
    wait_for(lambda: ready(cluster, ns, "second"), timeout=60, what="second Ready under the new leader")
    assert deployments(cluster, ns) == ["first-stable", "second-stable"]
    # The new leader resumed every object: the finished run, its Job and the first rollout stay as they were,
    # though the retrain request annotation is still on the policy.
    after = runs(cluster, ns)
    assert [(r["id"], r["phase"]) for r in after] == [(run["id"], "Promoted")]
    assert cluster.kubectl("get", "jobs", "-n", ns, "-o", "name").stdout.split() == [
        f"job.batch/fraud-retrain-{run['id']}"
    ]
    assert events(cluster, ns, "first") == first_events
    assert events(cluster, ns, "fraud-retrain") == retrain_events

    # The killed replica comes back (as the kubelet would restart it) and stands by; a graceful stop of
    # the leader releases the Lease, so it takes over without waiting for expiry.
    leader.operator.start()
    wait_for(lambda: leader.leading() == 0, what="the restarted replica standing by")
    assert lease(cluster).holder_identity == standby.name
    standby.operator.stop()
    assert "released lease" in standby.log()
    wait_for(
        lambda: lease(cluster).holder_identity == leader.name, timeout=HANDOVER_TIMEOUT, what="handover on release"
    )
    assert lease(cluster).lease_transitions == transitions + 2
