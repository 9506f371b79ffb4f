"""Object metadata, create/get/update semantics, generation and resourceVersion."""

from __future__ import annotations

import re

import kubernetes
import pytest
from apiserver_support import Http, crd_body, unique, widget, wpath


def _cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_create_sets_server_metadata(http: Http, namespace: str) -> None:
    """Real server: create answers 201 with uid, creationTimestamp (RFC 3339, UTC) and a string
    resourceVersion; the counter is cluster-wide, so later writes anywhere get larger versions."""
    r1 = http.post(f"/api/v1/namespaces/{namespace}/configmaps", _cm("a", k="v"))
    assert r1.status_code == 201
    meta = r1.json()["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert isinstance(meta["resourceVersion"], str)
    r2 = http.post(f"/api/v1/namespaces/{namespace}/secrets", {"metadata": {"name": "s"}})
    assert int(r2.json()["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    got = http.get(f"/api/v1/namespaces/{namespace}/configmaps/a").json()
    assert got["metadata"]["uid"] == meta["uid"] and got["data"] == {"k": "v"}
    assert got["kind"] == "ConfigMap" and got["apiVersion"] == "v1"


def test_generate_name(http: Http, namespace: str) -> None:
    """Real server: generateName gets a random 5-character suffix."""
    body = {"metadata": {"generateName": "ev-"}, "data": {}}
    name = http.post(f"/api/v1/namespaces/{namespace}/configmaps", body).json()["metadata"]["name"]
    assert re.fullmatch(r"ev-[a-z0-9]{5}", name)


def test_already_exists_is_409(http: Http, namespace: str) -> None:
    """Real server: 409 with reason AlreadyExists and details naming the object."""
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", _cm("dup"))
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", _cm("dup"))
    assert r.status_code == 409
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == "AlreadyExists" and body["code"] == 409
    assert body["details"] == {"name": "dup", "kind": "configmaps"}  # an empty group is omitted (omitempty)
    assert body["message"] == 'configmaps "dup" already exists'


def test_not_found_status_body(http: Http, namespace: str) -> None:
    """Real server: 404 Status with apiVersion v1, status Failure, reason NotFound, details."""
    r = http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/missing")
    assert r.status_code == 404
    body = r.json()
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "missing" not found',
        "reason": "NotFound",
        "details": {"name": "missing", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


def test_create_in_missing_namespace_is_404(http: Http) -> None:
    """Real server: creating into a namespace that does not exist is 404 namespaces "x" not found."""
    r = http.post("/api/v1/namespaces/no-such-ns/configmaps", _cm("x"))
    assert r.status_code == 404
    assert r.json()["message"] == 'namespaces "no-such-ns" not found'


def test_default_namespaces_exist(api_client: kubernetes.client.ApiClient) -> None:
    """A fresh cluster has `default` and `kube-system`, Active."""
    core = kubernetes.client.CoreV1Api(api_client)
    names = {ns.metadata.name: ns.status.phase for ns in core.list_namespace().items}
    assert names["default"] == "Active" and names["kube-system"] == "Active"


def test_invalid_name_is_422(http: Http, namespace: str) -> None:
    """Real server: metadata.name must be a DNS-1123 subdomain; 422 with a metadata.name cause."""
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", _cm("Not_Valid"))
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_update_conflict_and_unconditional_put(http: Http, namespace: str) -> None:
    """Real server: PUT with a stale resourceVersion is 409 Conflict; PUT without one is unconditional."""
    path = f"/api/v1/namespaces/{namespace}/configmaps/c"
    created = http.post(f"/api/v1/namespaces/{namespace}/configmaps", _cm("c", v="1")).json()
    stale = dict(created, data={"v": "2"})
    assert http.put(path, stale).status_code == 200
    r = http.put(path, dict(created, data={"v": "3"}))
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert "the object has been modified" in r.json()["message"]
    unconditional = _cm("c", v="4")
    r = http.put(path, unconditional)
    assert r.status_code == 200 and r.json()["data"] == {"v": "4"}
    assert r.json()["metadata"]["uid"] == created["metadata"]["uid"]


def test_put_missing_object_is_404(http: Http, namespace: str) -> None:
    """Real server: update does not create for ConfigMaps or custom resources."""
    assert http.put(f"/api/v1/namespaces/{namespace}/configmaps/none", _cm("none")).status_code == 404


def test_every_write_bumps_resource_version_but_noop_does_not(http: Http, namespace: str) -> None:
    """Real server: every change gets a new resourceVersion (kopf waits for it in the watch);
    a patch that changes nothing is not written and keeps the version."""
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv0 = http.post(base, _cm("r", a="1")).json()["metadata"]["resourceVersion"]
    rv1 = http.patch(f"{base}/r", {"data": {"a": "2"}}).json()["metadata"]["resourceVersion"]
    assert int(rv1) > int(rv0)
    rv2 = http.patch(f"{base}/r", {"data": {"a": "2"}}).json()["metadata"]["resourceVersion"]
    assert rv2 == rv1


def test_generation_with_status_subresource(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: generation starts at 1; with a status subresource only spec (non-metadata,
    non-status) changes bump it; metadata changes and /status writes do not."""
    http.post(wpath(namespace), widget("g"))
    obj = http.get(wpath(namespace, "g")).json()
    assert obj["metadata"]["generation"] == 1
    obj = http.patch(wpath(namespace, "g"), {"metadata": {"labels": {"x": "y"}}}).json()
    assert obj["metadata"]["generation"] == 1
    obj = http.patch(wpath(namespace, "g", "status"), {"status": {"phase": "Ready"}}).json()
    assert obj["metadata"]["generation"] == 1 and obj["status"]["phase"] == "Ready"
    obj = http.patch(wpath(namespace, "g"), {"spec": {"replicas": 5}}).json()
    assert obj["metadata"]["generation"] == 2


def test_generation_without_status_subresource(http: Http, namespace: str) -> None:
    """Real server: for a CRD without a status subresource any non-metadata change (status too)
    bumps generation."""
    group = f"{unique('nos')}.example.com"
    crd = crd_body(group, "plains", "Plain")
    assert http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status_code == 201
    base = f"/apis/{group}/v1/namespaces/{namespace}/plains"
    assert http.post(base, {"metadata": {"name": "p"}, "spec": {"a": 1}}).status_code == 201
    assert http.get(f"{base}/p/status").status_code == 404
    obj = http.patch(f"{base}/p", {"status": {"b": 2}}).json()
    assert obj["metadata"]["generation"] == 2 and obj["status"] == {"b": 2}
    obj = http.patch(f"{base}/p", {"metadata": {"annotations": {"n": "1"}}}).json()
    assert obj["metadata"]["generation"] == 2


def test_builtin_generation(api_client: kubernetes.client.ApiClient, namespace: str) -> None:
    """Real server: Deployments have generation bumped by spec changes, not by status writes."""
    apps = kubernetes.client.AppsV1Api(api_client)
    dep = {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    created = apps.create_namespaced_deployment(namespace, dep)
    assert created.metadata.generation == 1
    apps.patch_namespaced_deployment_status("d", namespace, {"status": {"replicas": 1, "readyReplicas": 1}})
    assert apps.read_namespaced_deployment("d", namespace).metadata.generation == 1
    apps.patch_namespaced_deployment("d", namespace, {"spec": {"replicas": 3}})
    got = apps.read_namespaced_deployment("d", namespace)
    assert got.metadata.generation == 2 and got.status.ready_replicas == 1


def test_status_subresource_separation(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: with a status subresource, the main endpoint ignores status (also on create),
    and /status writes only status (spec and labels sent there are ignored)."""
    created = http.post(wpath(namespace), {**widget("s"), "status": {"phase": "Fake"}}).json()
    assert "status" not in created
    obj = http.patch(wpath(namespace, "s"), {"status": {"phase": "Ignored"}}).json()
    assert "status" not in obj
    obj = http.put(
        wpath(namespace, "s", "status"),
        {**obj, "spec": {**obj["spec"], "replicas": 9}, "status": {"phase": "Ready"}},
    ).json()
    assert obj["status"] == {"phase": "Ready"} and obj["spec"]["replicas"] == 1
    assert http.get(wpath(namespace, "s", "status")).json()["status"] == {"phase": "Ready"}


def test_builtin_objects_are_stored_as_sent(http: Http, namespace: str) -> None:
    """Built-in kinds keep every field their type has (no deep validation here)."""
    pod_spec = {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}]}
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    body = {"metadata": {"name": "x"}, "spec": {"backoffLimit": 2, "template": {"spec": pod_spec}}}
    assert http.post(base, body).status_code == 201
    got = http.get(f"{base}/x").json()
    assert got["spec"] == body["spec"]


def test_builtin_unknown_fields(http: Http, namespace: str) -> None:
    """Real server: built-in types drop fields they do not have; fieldValidation=Strict refuses
    them with 400 `Deployment in version "v1" cannot be handled as a Deployment: strict decoding
    error: unknown field "spec.replica"` (kubectl apply's default), Warn answers with a Warning."""
    pytest.importorskip("kubernetes_validate")
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    body = {
        "metadata": {"name": "typo", "bogus": 1},
        "spec": {
            "replica": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "imag": "x"}]}},
        },
    }
    r = http.post(base, body, params={"fieldValidation": "Strict"})
    assert r.status_code == 400
    assert r.json()["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "metadata.bogus", unknown field "spec.replica", '
        'unknown field "spec.template.spec.containers[0].imag"'
    )
    r = http.post(base, body)
    assert r.status_code == 201 and "replica" not in r.json()["spec"]
    assert r.headers["Warning"].count("unknown field") == 3
    assert r.json()["spec"]["selector"] == {"matchLabels": {"a": "b"}}
    cm = http.post(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "m"}, "data": {"any": "key"}})
    assert cm.json()["data"] == {"any": "key"} and "Warning" not in cm.headers


def test_dry_run_writes_nothing(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: dryRun=All runs defaulting and validation and answers as if written, but
    stores nothing (kubectl diff and --dry-run=server rely on it)."""
    r = http.post(wpath(namespace), widget("dry"), params={"dryRun": "All"})
    assert r.status_code == 201 and r.json()["spec"]["size"] == "small"
    assert http.get(wpath(namespace, "dry")).status_code == 404
    assert http.post(wpath(namespace), widget("dry", replicas=-1), params={"dryRun": "All"}).status_code == 422
    http.post(wpath(namespace), widget("dry"))
    r = http.patch(wpath(namespace, "dry"), {"spec": {"replicas": 6}}, params={"dryRun": "All"})
    assert r.json()["spec"]["replicas"] == 6
    assert http.get(wpath(namespace, "dry")).json()["spec"]["replicas"] == 1
    assert http.delete(wpath(namespace, "dry"), params={"dryRun": "All"}).status_code == 200
    assert http.get(wpath(namespace, "dry")).status_code == 200


def test_python_client_watch(api_client: kubernetes.client.ApiClient, namespace: str) -> None:
    """The kubernetes client's Watch helper reads our stream unchanged (list, then watch)."""
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w1"}})
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.patch_namespaced_config_map("w1", namespace, {"data": {"a": "1"}})
    seen = []
    watcher = kubernetes.watch.Watch()
    for event in watcher.stream(core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name, event["object"].data))
        watcher.stop()
    assert seen == [("MODIFIED", "w1", {"a": "1"})]


BUILTIN_PATHS = [
    "/api/v1/namespaces/{ns}/pods",
    "/api/v1/namespaces/{ns}/services",
    "/api/v1/namespaces/{ns}/events",
    "/api/v1/namespaces/{ns}/configmaps",
    "/api/v1/namespaces/{ns}/secrets",
    "/api/v1/namespaces/{ns}/serviceaccounts",
    "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "/api/v1/namespaces/{ns}/endpoints",
    "/apis/apps/v1/namespaces/{ns}/deployments",
    "/apis/apps/v1/namespaces/{ns}/replicasets",
    "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "/apis/batch/v1/namespaces/{ns}/jobs",
    "/apis/batch/v1/namespaces/{ns}/cronjobs",
    "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
    "/apis/events.k8s.io/v1/namespaces/{ns}/events",
    "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
]


@pytest.mark.parametrize("template", BUILTIN_PATHS)
def test_every_builtin_kind_round_trips(http: Http, namespace: str, template: str) -> None:
    """Each built-in kind the project uses can be created, read, listed, patched and deleted, and
    comes back with its own kind and apiVersion."""
    base = template.format(ns=namespace)
    name = unique("b")
    created = http.post(base, {"metadata": {"name": name, "labels": {"t": name}}})
    assert created.status_code == 201, created.text
    got = http.get(f"{base}/{name}").json()
    assert got["kind"] == created.json()["kind"] and got["apiVersion"] == created.json()["apiVersion"]
    listed = http.get(base, params={"labelSelector": f"t={name}"}).json()
    assert listed["kind"] == f"{got['kind']}List" and len(listed["items"]) == 1
    assert http.patch(f"{base}/{name}", {"metadata": {"annotations": {"a": "b"}}}).status_code == 200
    assert http.delete(f"{base}/{name}").status_code == 200
    assert http.get(f"{base}/{name}").status_code == 404
