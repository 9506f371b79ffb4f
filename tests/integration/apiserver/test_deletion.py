"""Deletion: finalizers, deletionTimestamp, propagation policies, garbage collection, namespaces."""

from __future__ import annotations

from apiserver_support import JSON_PATCH, Http, poll, widget, wpath


def _cm(name: str, owners: list[dict] | None = None, finalizers: list[str] | None = None) -> dict:
    meta: dict = {"name": name}
    if owners:
        meta["ownerReferences"] = owners
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta, "data": {}}


def _owner_ref(obj: dict, block: bool = False) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "blockOwnerDeletion": block,
    }


def test_finalizers_and_deletion_timestamp(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: DELETE on an object with finalizers sets deletionTimestamp and
    deletionGracePeriodSeconds, bumps generation and emits MODIFIED; removing the last finalizer
    deletes it and emits DELETED (what kopf's deletion handlers rely on)."""
    obj = http.post(wpath(namespace), {**widget("f"), "metadata": {"name": "f", "finalizers": ["a/b"]}}).json()
    rv = obj["metadata"]["resourceVersion"]
    with http.watch(wpath(namespace), {"resourceVersion": rv}) as stream:
        r = http.delete(wpath(namespace, "f"))
        assert r.status_code == 200
        deleting = r.json()
        assert deleting["metadata"]["deletionTimestamp"]
        assert deleting["metadata"]["deletionGracePeriodSeconds"] == 0
        assert deleting["metadata"]["generation"] == 2
        assert http.get(wpath(namespace, "f")).status_code == 200
        http.patch(wpath(namespace, "f"), {"metadata": {"finalizers": None}})
        events = stream.collect(lambda ev: any(e["type"] == "DELETED" for e in ev))
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert http.get(wpath(namespace, "f")).status_code == 404


def test_no_new_finalizers_while_deleting(http: Http, namespace: str) -> None:
    """Real server: `Forbidden: no new finalizers can be added if the object is being deleted`
    (422); removing finalizers is allowed."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, _cm("nf", finalizers=["a/b"]))
    http.delete(f"{base}/nf")
    r = http.patch(f"{base}/nf", {"metadata": {"finalizers": ["a/b", "c/d"]}})
    assert r.status_code == 422 and "no new finalizers" in r.json()["message"]
    assert r.json()["details"]["causes"][0]["field"] == "metadata.finalizers"


def test_delete_without_finalizers(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: gone at once; custom resources answer with the object, ConfigMaps with a
    Status Success."""
    http.post(wpath(namespace), widget("gone"))
    r = http.delete(wpath(namespace, "gone"))
    assert r.status_code == 200 and r.json()["kind"] == "Widget"
    assert http.get(wpath(namespace, "gone")).status_code == 404
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, _cm("gone"))
    body = http.delete(f"{base}/gone").json()
    assert body["kind"] == "Status" and body["status"] == "Success"
    assert http.delete(f"{base}/gone").status_code == 404


def test_delete_preconditions(http: Http, namespace: str) -> None:
    """Real server: preconditions on uid / resourceVersion that do not match are 409."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    obj = http.post(base, _cm("pre")).json()
    r = http.delete(f"{base}/pre", {"preconditions": {"uid": "not-the-uid"}})
    assert r.status_code == 409 and "Precondition failed" in r.json()["message"]
    r = http.delete(f"{base}/pre", {"preconditions": {"resourceVersion": "1"}})
    assert r.status_code == 409
    assert http.delete(f"{base}/pre", {"preconditions": {"uid": obj["metadata"]["uid"]}}).status_code == 200


def test_background_gc(http: Http, namespace: str) -> None:
    """Real server (garbage collector): dependents of a deleted owner are deleted afterwards;
    a dependent with another live owner only loses the dangling reference."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = http.post(base, _cm("owner")).json()
    other = http.post(base, _cm("other")).json()
    http.post(base, _cm("dep", owners=[_owner_ref(owner)]))
    http.post(base, _cm("shared", owners=[_owner_ref(owner), _owner_ref(other)]))
    http.delete(f"{base}/owner")
    poll(lambda: http.get(f"{base}/dep").status_code == 404, what="dependent collected")
    refs = poll(
        lambda: len(r := http.get(f"{base}/shared").json()["metadata"]["ownerReferences"]) == 1 and r,
        what="dangling reference removed",
    )
    assert refs[0]["uid"] == other["metadata"]["uid"]


def test_foreground_deletion(http: Http, namespace: str) -> None:
    """Real server: propagationPolicy=Foreground gives the owner the foregroundDeletion finalizer
    and a deletionTimestamp; dependents go first, then the owner."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = http.post(base, _cm("fg")).json()
    http.post(base, _cm("fg-dep", owners=[_owner_ref(owner, block=True)], finalizers=["hold/on"]))
    r = http.delete(f"{base}/fg", {"propagationPolicy": "Foreground"})
    assert r.status_code == 200
    assert "foregroundDeletion" in r.json()["metadata"]["finalizers"]
    assert r.json()["metadata"]["deletionTimestamp"]
    poll(lambda: http.get(f"{base}/fg-dep").json()["metadata"].get("deletionTimestamp"), what="dep deleting")
    assert http.get(f"{base}/fg").status_code == 200  # blocked by the dependent's finalizer
    http.patch(f"{base}/fg-dep", [{"op": "remove", "path": "/metadata/finalizers"}], JSON_PATCH)
    poll(lambda: http.get(f"{base}/fg").status_code == 404, what="owner deleted after dependents")


def test_orphan_deletion(http: Http, namespace: str) -> None:
    """Real server: propagationPolicy=Orphan removes the ownerReference from dependents, which stay."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    owner = http.post(base, _cm("orph")).json()
    http.post(base, _cm("orph-dep", owners=[_owner_ref(owner)]))
    http.delete(f"{base}/orph", {"propagationPolicy": "Orphan"})
    dep = http.get(f"{base}/orph-dep").json()
    assert "ownerReferences" not in dep["metadata"]


def test_job_defaults_to_orphan(http: Http, namespace: str) -> None:
    """Real server: batch/v1 Jobs deleted without a propagationPolicy orphan their pods."""
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    job = http.post(jobs, {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": []}}}}).json()
    pods = f"/api/v1/namespaces/{namespace}/pods"
    http.post(pods, {"metadata": {"name": "j-pod", "ownerReferences": [_owner_ref(job)]}, "spec": {"containers": []}})
    http.delete(f"{jobs}/j")
    assert "ownerReferences" not in http.get(f"{pods}/j-pod").json()["metadata"]


def test_delete_collection(http: Http, namespace: str) -> None:
    """Real server: DELETE on a collection deletes what the selector matches."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, app in (("k1", "a"), ("k2", "a"), ("k3", "b")):
        http.post(base, {"metadata": {"name": name, "labels": {"app": app}}})
    r = http.delete(base, params={"labelSelector": "app=a"})
    assert r.status_code == 200
    assert sorted(o["metadata"]["name"] for o in r.json()["items"]) == ["k1", "k2"]
    left = [o["metadata"]["name"] for o in http.get(base).json()["items"]]
    assert left == ["k3", "kube-root-ca.crt"]  # the root-CA publisher's ConfigMap is in every namespace


def test_namespace_deletion(http: Http) -> None:
    """Real server: deleting a namespace sets phase Terminating, deletes everything in it (waiting
    for finalizers), refuses new content, then the namespace is gone."""
    http.post("/api/v1/namespaces", {"metadata": {"name": "doomed-ns"}})
    base = "/api/v1/namespaces/doomed-ns/configmaps"
    http.post(base, _cm("a"))
    http.post(base, _cm("b", finalizers=["x/y"]))
    r = http.delete("/api/v1/namespaces/doomed-ns")
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Terminating"
    poll(lambda: http.get(f"{base}/a").status_code == 404, what="contents deleted")
    assert http.post(base, _cm("c")).status_code == 403
    assert http.get("/api/v1/namespaces/doomed-ns").json()["status"]["phase"] == "Terminating"
    http.patch(f"{base}/b", {"metadata": {"finalizers": None}})
    poll(lambda: http.get("/api/v1/namespaces/doomed-ns").status_code == 404, what="namespace gone")
