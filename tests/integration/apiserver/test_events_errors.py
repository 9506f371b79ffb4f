"""Events (both APIs) and the Status bodies of every error class."""

from __future__ import annotations

import random
import re

import kubernetes
from apiserver_support import Http, widget, wpath


def test_core_events_with_generate_name(api_client: kubernetes.client.ApiClient, namespace: str) -> None:
    """kopf posts core/v1 Events with generateName; they are stored and listable by field selector."""
    core = kubernetes.client.CoreV1Api(api_client)
    body = {
        "metadata": {"generateName": "kopf-event-", "namespace": namespace},
        "involvedObject": {"kind": "Widget", "name": "w", "namespace": namespace, "uid": "u1"},
        "reason": "Logging",
        "message": "hello",
        "type": "Normal",
        "source": {"component": "kopf"},
    }
    created = core.create_namespaced_event(namespace, body)
    assert created.metadata.name.startswith("kopf-event-")
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=w").items
    assert [e.message for e in events] == ["hello"]


def test_generated_names_leave_the_global_random_state_alone(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    """Real server: generateName gets 5 characters of its own alphabet from the server's own generator. The
    sandbox serves from inside test processes, where drawing from the global `random` while Hypothesis draws
    an example makes it warn of `random` in a strategy (and later Hypothesis versions fail)."""
    core = kubernetes.client.CoreV1Api(api_client)
    state = random.getstate()
    names = {
        core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "cm-"}}).metadata.name
        for _ in range(5)
    }
    assert random.getstate() == state
    assert len(names) == 5 and all(re.fullmatch(r"cm-[bcdfghjklmnpqrstvwxz2456789]{5}", name) for name in names)


def test_events_k8s_io(api_client: kubernetes.client.ApiClient, namespace: str) -> None:
    """events.k8s.io/v1 Events are stored and listable too."""
    api = kubernetes.client.EventsV1Api(api_client)
    body = {
        "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "mlaiops",
        "reportingInstance": "x",
        "action": "Scale",
        "reason": "Scaled",
        "note": "scaled up",
        "type": "Normal",
        "regarding": {"kind": "Deployment", "name": "d", "namespace": namespace},
    }
    api.create_namespaced_event(namespace, body)
    assert [e.note for e in api.list_namespaced_event(namespace).items] == ["scaled up"]


def _status(response, code: int, reason: str) -> dict:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason
    return body


def test_error_status_bodies(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server codes and reasons: 400 BadRequest, 404 NotFound, 405 MethodNotAllowed,
    409 Conflict/AlreadyExists, 415 UnsupportedMediaType, 422 Invalid."""
    base = wpath(namespace)
    _status(http.post(base, "{not json"), 400, "BadRequest")
    _status(http.get("/apis/test.sandbox.dev/v1/namespaces/x/nothings"), 404, "NotFound")
    _status(http.post(wpath(namespace, "x"), widget("x")), 405, "MethodNotAllowed")
    http.post(base, widget("e"))
    _status(http.post(base, widget("e")), 409, "AlreadyExists")
    _status(http.patch(wpath(namespace, "e"), {}, "application/xml"), 415, "UnsupportedMediaType")
    _status(http.post(base, widget("bad", replicas=-5)), 422, "Invalid")


def test_too_many_requests_has_retry_after(http: Http, namespace: str) -> None:
    """Real server: 429 TooManyRequests carries Retry-After (kopf backs off on it)."""
    rule = {"verb": "list", "resource": "secrets", "namespace": namespace, "statusCode": 429, "errorRate": 1.0}
    http.post("/sandbox/faults", {"rules": [rule]})
    try:
        r = http.get(f"/api/v1/namespaces/{namespace}/secrets")
        _status(r, 429, "TooManyRequests")
        assert r.headers["Retry-After"] == "1"
    finally:
        http.delete("/sandbox/faults")
