"""Lists: kinds, selectors, pagination and Table output for kubectl."""

from __future__ import annotations

import pytest
from apiserver_support import TABLE_ACCEPT, Http, widget, wpath


@pytest.fixture
def labelled(http: Http, namespace: str) -> str:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, labels in {
        "a": {"app": "web", "tier": "front"},
        "b": {"app": "web", "tier": "back"},
        "c": {"app": "db"},
        "d": {},
    }.items():
        http.post(base, {"metadata": {"name": name, "labels": labels}})
    return base


def _names(http: Http, base: str, **params: str) -> list[str]:
    r = http.get(base, params=params)
    assert r.status_code == 200, r.text
    return [o["metadata"]["name"] for o in r.json()["items"]]


def test_list_shape(http: Http, labelled: str) -> None:
    """Real server: `<Kind>List`, apiVersion, metadata.resourceVersion, items sorted by name."""
    doc = http.get(labelled).json()
    assert doc["kind"] == "ConfigMapList" and doc["apiVersion"] == "v1"
    assert int(doc["metadata"]["resourceVersion"]) > 0
    assert [o["metadata"]["name"] for o in doc["items"]][:4] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web", ["a", "b"]),
        ("app!=web", ["c", "d"]),
        ("app in (web,db)", ["a", "b", "c"]),
        ("app notin (web)", ["c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("app=web,tier=back", ["b"]),
    ],
)
def test_label_selectors(http: Http, labelled: str, selector: str, expected: list[str]) -> None:
    """Real server semantics: `!=` and `notin` also match objects without the label."""
    names = [n for n in _names(http, labelled, labelSelector=selector) if n in "abcd"]
    assert names == expected


def test_field_selectors(http: Http, labelled: str, namespace: str) -> None:
    """metadata.name / metadata.namespace for every kind, status.phase for pods; unsupported
    fields are 400 like the real server."""
    assert _names(http, labelled, fieldSelector="metadata.name=c") == ["c"]
    assert "c" not in _names(http, labelled, fieldSelector="metadata.name!=c")
    cluster_wide = http.get("/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={namespace}"}).json()
    assert {o["metadata"]["namespace"] for o in cluster_wide["items"]} == {namespace}
    pods = f"/api/v1/namespaces/{namespace}/pods"
    http.post(pods, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert _names(http, pods, fieldSelector="status.phase=Pending") == ["p"]
    assert _names(http, pods, fieldSelector="status.phase=Running") == []
    assert http.get(labelled, params={"fieldSelector": "data.x=1"}).status_code == 400
    assert http.get(labelled, params={"labelSelector": "a b c"}).status_code == 400


def test_limit_and_continue(http: Http, labelled: str) -> None:
    """Real server: `limit` returns a page with an opaque `continue` token; the last page has none."""
    first = http.get(labelled, params={"limit": "3"}).json()
    assert len(first["items"]) == 3 and first["metadata"]["continue"]
    assert first["metadata"]["remainingItemCount"] >= 1
    rest = http.get(labelled, params={"limit": "3", "continue": first["metadata"]["continue"]}).json()
    names = [o["metadata"]["name"] for o in first["items"] + rest["items"]]
    assert names == sorted(set(names)) and {"a", "b", "c", "d"} <= set(names)
    assert not rest["metadata"].get("continue")
    assert http.get(labelled, params={"continue": "garbage"}).status_code == 400


def test_cluster_wide_list(http: Http, labelled: str, namespace: str) -> None:
    """Real server: /api/v1/configmaps lists across namespaces (kopf --all-namespaces)."""
    doc = http.get("/api/v1/configmaps", params={"labelSelector": "app=db"}).json()
    assert (namespace, "c") in {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in doc["items"]}


def test_table_for_custom_resource(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: `Accept: ...;as=Table;g=meta.k8s.io;v=v1` returns a Table: Name then the CRD's
    additionalPrinterColumns; date columns print as an age; rows carry partial object metadata."""
    http.post(wpath(namespace), widget("t", replicas=3, size="large"))
    http.patch(wpath(namespace, "t", "status"), {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    table = http.get(wpath(namespace), headers={"Accept": TABLE_ACCEPT}).json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Replicas", "Size", "Ready", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["t", 3, "large", "True"]
    assert cells[4].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    single = http.get(wpath(namespace, "t"), headers={"Accept": TABLE_ACCEPT}).json()
    assert single["kind"] == "Table" and len(single["rows"]) == 1
    plain = http.get(wpath(namespace)).json()
    assert plain["kind"] == "WidgetList"


def test_table_for_builtin(http: Http, labelled: str) -> None:
    """Built-ins print at least Name and Age."""
    table = http.get(labelled, headers={"Accept": TABLE_ACCEPT}).json()
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[0] == "Name" and names[-1] == "Age"
    assert ["a", "b", "c", "d"] == [r["cells"][0] for r in table["rows"]][:4]
