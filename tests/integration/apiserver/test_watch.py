"""Watch streams: replay, initial events, 410 Gone, bookmarks, timeouts, selectors."""

from __future__ import annotations

import time

from apiserver_support import TABLE_ACCEPT, Http, names, widget, wpath


def _cm(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "data": {}}


def test_watch_replays_from_resource_version(http: Http, namespace: str) -> None:
    """Real server: a watch from a list's resourceVersion delivers every later change in order,
    as newline-delimited JSON with an application/json content type (kubectl -w needs JSON)."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    http.post(base, _cm("a"))
    http.patch(f"{base}/a", {"data": {"k": "v"}})
    http.delete(f"{base}/a")
    with http.watch(base, {"resourceVersion": rv}) as stream:
        assert stream.response.headers["Content-Type"].startswith("application/json")
        events = stream.collect(lambda ev: len(ev) >= 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert events[1]["object"]["data"] == {"k": "v"}


def test_live_events_carry_patched_resource_version(http: Http, namespace: str) -> None:
    """kopf waits for the watch event carrying the resourceVersion its patch returned."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, _cm("live"))
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    with http.watch(base, {"resourceVersion": rv}) as stream:
        patched = http.patch(f"{base}/live", {"data": {"x": "1"}}).json()
        events = stream.collect(lambda ev: len(ev) >= 1)
    assert events[0]["type"] == "MODIFIED"
    assert events[0]["object"]["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]


def test_watch_without_resource_version_sends_synthetic_added(http: Http, namespace: str) -> None:
    """Real server: resourceVersion unset or "0" starts with ADDED for every existing object."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, _cm("x1"))
    http.post(base, _cm("x2"))
    for params in ({}, {"resourceVersion": "0"}):
        with http.watch(base, params) as stream:
            events = stream.collect(lambda ev: len(ev) >= 3)
        # kube-root-ca.crt: the root-CA publisher's ConfigMap, in every namespace
        assert names(events, "ADDED") == ["kube-root-ca.crt", "x1", "x2"]


def test_expired_resource_version_is_410_error_event(http: Http, namespace: str) -> None:
    """Real server: a watch from a compacted resourceVersion gets HTTP 200 and one ERROR event
    whose object is a Status with code 410, reason Expired (kopf then relists)."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.post(base, _cm("old")).json()["metadata"]["resourceVersion"]
    http.post(base, _cm("newer"))
    assert http.post("/sandbox/compact", {}).status_code == 200
    with http.watch(base, {"resourceVersion": rv}) as stream:
        assert stream.response.status_code == 200
        events = stream.collect(lambda ev: len(ev) >= 1)
        assert stream.next() is None  # the server ends the stream after the error
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")


def test_expire_next_watch(http: Http, namespace: str) -> None:
    """/sandbox/watches/expire makes the next watch from an older version get 410, once."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.post(base, _cm("e1")).json()["metadata"]["resourceVersion"]
    http.post(base, _cm("e2"))
    http.post("/sandbox/watches/expire", {})
    with http.watch(base, {"resourceVersion": rv}) as stream:
        assert stream.collect(lambda ev: True)[0]["object"]["code"] == 410
    with http.watch(base, {"resourceVersion": rv}) as stream:
        assert names(stream.collect(lambda ev: True)) == ["e2"]


def test_bookmarks(http: Http, namespace: str) -> None:
    """Real server: with allowWatchBookmarks, BOOKMARK events carry only kind, apiVersion and
    metadata.resourceVersion (the fixture's server sends them every 0.3 s)."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    with http.watch(base, {"resourceVersion": rv, "allowWatchBookmarks": "true"}) as stream:
        events = stream.collect(lambda ev: any(e["type"] == "BOOKMARK" for e in ev))
    bookmark = events[-1]["object"]
    assert set(bookmark) == {"kind", "apiVersion", "metadata"}
    assert bookmark["kind"] == "ConfigMap" and int(bookmark["metadata"]["resourceVersion"]) >= int(rv)


def test_timeout_seconds_ends_stream(http: Http, namespace: str) -> None:
    """Real server: the stream closes after timeoutSeconds."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    began = time.monotonic()
    with http.watch(base, {"resourceVersion": rv, "timeoutSeconds": "1"}) as stream:
        assert stream.next() is None
    assert time.monotonic() - began < 4


def test_selector_transitions(http: Http, namespace: str) -> None:
    """Real server: with a label selector, an object that starts matching arrives as ADDED and
    one that stops matching as DELETED for that watcher, though it still exists."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, _cm("sel", app="x"))
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    with http.watch(base, {"resourceVersion": rv, "labelSelector": "app=y"}) as stream:
        http.patch(f"{base}/sel", {"metadata": {"labels": {"app": "y"}}})
        http.patch(f"{base}/sel", {"data": {"a": "1"}})
        http.patch(f"{base}/sel", {"metadata": {"labels": {"app": "z"}}})
        events = stream.collect(lambda ev: len(ev) >= 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert http.get(f"{base}/sel").status_code == 200


def test_field_selector_watch(http: Http, namespace: str) -> None:
    """kubectl wait watches one object by fieldSelector metadata.name."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    with http.watch(base, {"fieldSelector": "metadata.name=only"}) as stream:
        http.post(base, _cm("other"))
        http.post(base, _cm("only"))
        events = stream.collect(lambda ev: len(ev) >= 1)
    assert names(events) == ["only"]


def test_send_initial_events(http: Http, namespace: str) -> None:
    """Real server (watch-list): sendInitialEvents=true&resourceVersionMatch=NotOlderThan sends
    ADDED for current objects then a BOOKMARK annotated k8s.io/initial-events-end: "true"."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, _cm("i1"))
    params = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}
    with http.watch(base, params) as stream:
        events = stream.collect(lambda ev: any(e["type"] == "BOOKMARK" for e in ev))
    assert names(events, "ADDED") == ["i1", "kube-root-ca.crt"]  # the root-CA ConfigMap is in every namespace
    assert events[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_cluster_wide_watch(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: /apis/<g>/<v>/<plural>?watch=true sees all namespaces (kopf -A)."""
    rv = http.get("/apis/test.sandbox.dev/v1/widgets").json()["metadata"]["resourceVersion"]
    with http.watch("/apis/test.sandbox.dev/v1/widgets", {"resourceVersion": rv}) as stream:
        http.post(wpath(namespace), widget("cw"))
        events = stream.collect(lambda ev: "cw" in names(ev))
    assert events[-1]["object"]["metadata"]["namespace"] == namespace
    assert events[-1]["object"]["kind"] == "Widget"


def test_namespaced_watch_ignores_other_namespaces(http: Http, namespace: str) -> None:
    other = "/api/v1/namespaces/default/configmaps"
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    with http.watch(base) as stream:
        http.post(other, _cm(f"elsewhere-{namespace}"))
        http.post(base, _cm("here"))
        events = stream.collect(lambda ev: "here" in names(ev))
    assert names(events) == ["kube-root-ca.crt", "here"]  # the root-CA ConfigMap is in every namespace


def test_drop_watches(http: Http, namespace: str) -> None:
    """/sandbox/watches/drop closes every open watch now (clients must reconnect)."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    with http.watch(base, {"resourceVersion": rv}) as stream:
        assert http.post("/sandbox/watches/drop", {}).json()["dropped"] >= 1
        assert stream.next() is None


def test_table_watch_for_kubectl_get_w(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: a watch with the Table Accept header streams events whose objects are Tables."""
    with http.watch(wpath(namespace), headers={"Accept": TABLE_ACCEPT}) as stream:
        http.post(wpath(namespace), widget("tw"))
        events = stream.collect(lambda ev: len(ev) >= 1)
    assert events[0]["object"]["kind"] == "Table"
    assert events[0]["object"]["rows"][0]["cells"][0] == "tw"


def test_watch_response_starts_before_the_first_event(http: Http, namespace: str) -> None:
    """kube-apiserver writes and flushes the 200 response headers as soon as a watch starts; clients
    get the response object before any event (the official client's informer needs it to stop a quiet
    watch). A watch from the current version with nothing to send still answers at once."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    began = time.monotonic()
    response = http.session.get(
        http.base + base, params={"watch": "true", "resourceVersion": rv}, stream=True, timeout=(2, 2)
    )
    try:
        assert response.status_code == 200
        assert time.monotonic() - began < 2
    finally:
        response.close()
