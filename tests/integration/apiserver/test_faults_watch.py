"""Watch faults: streams the server drops, and resumes answered with 410 Gone (an expired version)."""

from __future__ import annotations

import json
from typing import Any

from apiserver_support import Http


def _cm(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {}}


def _read_to_end(stream: Any) -> list[dict[str, Any]]:
    """Every event until the server ends the response; a client-side read timeout raises instead."""
    return [json.loads(line) for line in stream.lines if line]


def test_drop_rule_ends_matching_watches_cleanly(http: Http, namespace: str) -> None:
    """Real server: a watch can end at any time (apiserver restart, timeout, load balancer); the stream
    ends cleanly after the events already sent and the client resumes from the last version it saw."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    http.post(base, _cm("before-drop"))
    rule = {"verb": "watch", "resource": "configmaps", "namespace": namespace, "dropAfterSeconds": 0.3}
    http.post("/sandbox/faults", {"rules": [rule]})
    try:
        with http.watch(base, {"resourceVersion": rv}) as stream:
            events = _read_to_end(stream)  # raises on the client's 5 s read timeout if never dropped
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "before-drop")]
        assert http.get(base).status_code == 200  # lists are not affected by a drop rule
        assert http.get("/sandbox/faults").json()["rules"][0]["hits"] == 1
    finally:
        http.delete("/sandbox/faults")
    resumed = events[-1]["object"]["metadata"]["resourceVersion"]
    http.post(base, _cm("after-drop"))
    with http.watch(base, {"resourceVersion": resumed}) as stream:
        again = stream.collect(lambda ev: len(ev) >= 1)
    assert again[0]["type"] == "ADDED" and again[0]["object"]["metadata"]["name"] == "after-drop"


def test_drop_rule_with_rate_drops_a_seeded_share(http: Http, namespace: str) -> None:
    """errorRate applies to drops too: a seeded share of watches is dropped, the others stay open."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rule = {"verb": "watch", "namespace": namespace, "dropAfterSeconds": 0.05, "errorRate": 0.5}
    http.post("/sandbox/faults", {"seed": 3, "rules": [rule]})
    try:
        for _ in range(10):
            with http.watch(base, {"timeoutSeconds": "0.2"}) as stream:
                _read_to_end(stream)
        hits = http.get("/sandbox/faults").json()["rules"][0]["hits"]
    finally:
        http.delete("/sandbox/faults")
    assert 1 <= hits <= 9


def test_expire_rule_answers_a_resume_with_410_error_event(http: Http, namespace: str) -> None:
    """Real server (watch cache): resuming from a version older than its window gives 200 and one
    ERROR event whose object is a Status 410 Expired; the client must relist. Later watches work."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    http.post(base, _cm("while-expired"))
    rule = {"verb": "watch", "resource": "configmaps", "namespace": namespace, "statusCode": 410, "count": 1}
    http.post("/sandbox/faults", {"rules": [rule]})
    try:
        with http.watch(base, {"resourceVersion": rv}) as stream:
            assert stream.response.status_code == 200
            events = _read_to_end(stream)
        assert [e["type"] for e in events] == ["ERROR"]
        status = events[0]["object"]
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
        listed = http.get(base).json()  # the relist kopf does after a 410 is served
        assert [i["metadata"]["name"] for i in listed["items"]] == ["kube-root-ca.crt", "while-expired"]
        with http.watch(base, {"resourceVersion": rv}) as stream:  # count: 1, so the next resume works
            again = stream.collect(lambda ev: len(ev) >= 1)
        assert again[0]["type"] == "ADDED" and again[0]["object"]["metadata"]["name"] == "while-expired"
    finally:
        http.delete("/sandbox/faults")


def test_invalid_fault_rules_are_rejected(http: Http) -> None:
    for bad in ({"errorRate": 2}, {"latencySeconds": -1}, {"dropAfterSeconds": -0.5}):
        assert http.post("/sandbox/faults", {"rules": [bad]}).status_code == 400
    assert http.get("/sandbox/faults").json()["rules"] == []


def test_rules_can_aim_at_one_client_by_user_agent(http: Http, namespace: str) -> None:
    """A fault for the operator under test (kopf's User-Agent) leaves other clients alone."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post("/sandbox/faults", {"rules": [{"verb": "list", "userAgent": "kopf/", "statusCode": 500}]})
    try:
        assert http.get(base, headers={"User-Agent": "kopf/1.45.2"}).status_code == 500
        assert http.get(base, headers={"User-Agent": "kubectl/v1.32.0"}).status_code == 200
    finally:
        http.delete("/sandbox/faults")
