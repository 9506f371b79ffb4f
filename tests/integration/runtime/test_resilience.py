"""The runtime is a well-behaved API client: it survives closed watches, 410 Gone and failing writes."""

from __future__ import annotations

import pytest

from tests.integration.runtime.helpers import (
    Kube,
    deployment_available,
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
