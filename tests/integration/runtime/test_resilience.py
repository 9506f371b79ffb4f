"""The runtime is a well-behaved API client: it survives closed watches, 410 Gone and failing writes; the
sandbox can take Prometheus down for a while."""

from __future__ import annotations

import pytest
from mlaiops_sandbox.cluster import Sandbox

from tests.integration.runtime.helpers import (
    Kube,
    deployment_available,
    http_get,
    server_configmap,
    server_deployment,
    wait_for,
)

pytestmark = pytest.mark.integration
NS = "rt-resilience"


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    kube.namespace(NS)
    kube.create(f"/api/v1/namespaces/{NS}/configmaps", server_configmap(NS))
    return NS


def test_dropped_and_expired_watches_are_resumed(kube: Kube, ns: str) -> None:
    kube.request("POST", "/sandbox/watches/expire")
    assert kube.request("POST", "/sandbox/watches/drop")["dropped"] >= 5  # the runtime's informers
    kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", server_deployment(ns, "after-drop", 1, {}, "x"))
    wait_for(lambda: deployment_available(kube, ns, "after-drop", 1), 30, what="deployment after dropped watches")


def test_failing_writes_are_retried(kube: Kube, ns: str) -> None:
    rules = [
        {"verb": "create", "resource": "pods", "namespace": ns, "count": 2, "statusCode": 500},
        {"verb": "patch", "resource": "pods", "subresource": "status", "namespace": ns, "count": 3},
        {"verb": "patch", "resource": "deployments", "subresource": "status", "namespace": ns, "count": 2},
    ]
    kube.request("POST", "/sandbox/faults", {"rules": rules})
    try:
        kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", server_deployment(ns, "flaky", 2, {}, "y"))
        wait_for(lambda: deployment_available(kube, ns, "flaky", 2), 30, what="deployment despite failing writes")
        hits = {(r["verb"], r["resource"], r["subresource"]): r["hits"] for r in kube.get("/sandbox/faults")["rules"]}
        assert hits[("create", "pods", "*")] == 2  # the faults really happened
    finally:
        kube.request("DELETE", "/sandbox/faults")
    assert len(kube.pods(ns, "deploy=flaky")) == 2


def test_watches_dropped_every_second_and_expired_resumes_do_not_stall_the_runtime(kube: Kube, ns: str) -> None:
    """Every watch ends after 1 s and a third of resumes get 410 Gone: the informers relist and resume,
    and Deployments still roll out and scale (no event lost between a drop and the resume)."""
    rules = [
        {"verb": "watch", "dropAfterSeconds": 1.0},
        {"verb": "watch", "statusCode": 410, "errorRate": 0.3},
    ]
    kube.request("POST", "/sandbox/faults", {"seed": 5, "rules": rules})
    kube.request("POST", "/sandbox/watches/drop")  # the rules apply to watches opened from now on
    try:
        kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", server_deployment(ns, "churn", 1, {}, "z"))
        wait_for(lambda: deployment_available(kube, ns, "churn", 1), 30, what="deployment under watch churn")
        kube.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/churn", {"spec": {"replicas": 2}})
        wait_for(lambda: deployment_available(kube, ns, "churn", 2), 30, what="scaled under watch churn")
        hits = [r["hits"] for r in kube.get("/sandbox/faults")["rules"]]
        assert hits[0] >= 5 and hits[1] >= 1  # both faults really happened
    finally:
        kube.request("DELETE", "/sandbox/faults")
    assert len(kube.pods(ns, "deploy=churn")) == 2


def _prometheus_answers(url: str) -> bool:
    try:
        return '"success"' in http_get(f"{url}/api/v1/query?query=vector(1)", timeout=2)
    except OSError:
        return False


def test_prometheus_outage_for_n_seconds(sandbox: Sandbox) -> None:
    """stop_prometheus(seconds) takes Prometheus down at once and brings it back on the same address;
    start_prometheus() ends an outage early."""
    url = sandbox.prometheus_url
    assert url is not None and _prometheus_answers(url)
    sandbox.stop_prometheus(seconds=1.0)
    assert not sandbox.prometheus_running and not _prometheus_answers(url)
    wait_for(lambda: _prometheus_answers(url), 60, interval=0.2, what="Prometheus back after the outage")
    assert sandbox.prometheus_url == url
    sandbox.stop_prometheus(seconds=600)
    assert not _prometheus_answers(url)
    sandbox.start_prometheus()
    assert sandbox.prometheus_running and _prometheus_answers(url)
