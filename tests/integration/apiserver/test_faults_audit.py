"""The sandbox admin API: fault injection and the request audit log."""

from __future__ import annotations

import time

from apiserver_support import Http


def test_fault_rate_is_seeded_and_scoped(http: Http, namespace: str) -> None:
    """errorRate with a seed fails a reproducible share of matching requests, and only those."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rule = {"verb": "list", "resource": "configmaps", "namespace": namespace, "errorRate": 0.5, "statusCode": 500}

    def run() -> list[int]:
        http.post("/sandbox/faults", {"seed": 7, "rules": [rule]})
        return [http.get(base).status_code for _ in range(40)]

    try:
        first, second = run(), run()
        assert first == second
        assert 5 < first.count(500) < 35 and first.count(200) + first.count(500) == 40
        assert http.post(base, {"metadata": {"name": "unaffected"}}).status_code == 201
        assert http.get("/sandbox/faults").json()["rules"][0]["hits"] == first.count(500)
    finally:
        http.delete("/sandbox/faults")
    assert http.get(base).status_code == 200


def test_fault_latency_and_count(http: Http, namespace: str) -> None:
    """latencySeconds delays matching requests; count limits how many are affected."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rule = {"verb": "list", "namespace": namespace, "latencySeconds": 0.3, "statusCode": 409, "count": 1}
    http.post("/sandbox/faults", {"rules": [rule]})
    try:
        began = time.monotonic()
        r = http.get(base)
        assert r.status_code == 409 and time.monotonic() - began >= 0.3
        assert http.get(base).status_code == 200
    finally:
        http.delete("/sandbox/faults")
    assert http.post("/sandbox/faults", {"rules": [{"verb": "fly"}]}).status_code == 400


def test_audit_records_requests(http: Http, namespace: str) -> None:
    """Every API request is recorded as verb, group, resource, subresource, namespace."""
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    http.post(base, {"metadata": {"name": "a"}, "spec": {"replicas": 1}})
    http.get(f"{base}/a/scale", headers={"X-Sandbox-Client": "tester"})
    http.get(base, params={"watch": "true", "timeoutSeconds": "0.01"})
    records = [r for r in http.get("/sandbox/audit").json()["items"] if r["namespace"] == namespace]
    seen = [(r["verb"], r["group"], r["resource"], r["subresource"]) for r in records]
    assert ("create", "apps", "deployments", "") in seen
    assert ("get", "apps", "deployments", "scale") in seen
    assert ("watch", "apps", "deployments", "") in seen
    scale = next(r for r in records if r["subresource"] == "scale")
    assert scale["client"] == "tester" and scale["code"] == 200
