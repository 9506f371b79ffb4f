"""PATCH content types: merge, JSON patch (with test), strategic merge, server-side apply."""

from __future__ import annotations

import json

from apiserver_support import APPLY, JSON_PATCH, MERGE, STRATEGIC, Http, widget, wpath


def _deployment(name: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "img:1",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "name": "http"}],
                        },
                        {"name": "side", "image": "side:1"},
                    ]
                },
            },
        },
    }


def test_merge_patch(http: Http, namespace: str, widget_crd: dict) -> None:
    """RFC 7386 as the real server applies it: maps merge, null deletes, lists replace; the
    response is the full new object with a new resourceVersion (kopf checks both)."""
    created = http.post(wpath(namespace), widget("m", tags=["a", "b"], labels={"x": "1", "y": "2"})).json()
    r = http.patch(wpath(namespace, "m"), {"spec": {"tags": ["c"], "labels": {"x": None, "z": "3"}}}, MERGE)
    assert r.status_code == 200
    spec = r.json()["spec"]
    assert spec["tags"] == ["c"] and spec["labels"] == {"y": "2", "z": "3"} and spec["image"] == "img:1"
    assert int(r.json()["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_json_patch_with_test_op(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: JSON patch ops apply in order; a failing `test` (kopf's resourceVersion guard
    on finalizer changes) is 422 and writes nothing."""
    obj = http.post(wpath(namespace), widget("j")).json()
    rv = obj["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["kopf.zalando.org/KopfFinalizerMarker"]},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]
    r = http.patch(wpath(namespace, "j"), ops, JSON_PATCH)
    assert r.status_code == 200
    assert r.json()["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
    assert r.json()["spec"]["replicas"] == 4
    stale = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "remove", "path": "/metadata/finalizers"},
    ]
    r = http.patch(wpath(namespace, "j"), stale, JSON_PATCH)
    assert r.status_code == 422 and r.json()["kind"] == "Status"
    assert http.get(wpath(namespace, "j")).json()["metadata"]["finalizers"]
    r = http.patch(wpath(namespace, "j"), [{"op": "remove", "path": "/spec/nothere"}], JSON_PATCH)
    assert r.status_code == 422


def test_json_patch_on_status(http: Http, namespace: str, widget_crd: dict) -> None:
    """kopf also sends JSON patches to /status; only status changes there."""
    obj = http.post(wpath(namespace), widget("js")).json()
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/status", "value": {"phase": "Ok"}},
    ]
    r = http.patch(wpath(namespace, "js", "status"), ops, JSON_PATCH)
    assert r.status_code == 200 and r.json()["status"] == {"phase": "Ok"}


def test_strategic_merge_patch_builtin(http: Http, namespace: str) -> None:
    """Real server: strategic merge merges containers by name, env by name, ports by
    containerPort, and deletes list items with `$patch: delete`; unmentioned items stay."""
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    assert http.post(base, _deployment("smp")).status_code == 201
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
                "spec": {
                    "$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
                    "containers": [
                        {
                            "name": "main",
                            "image": "img:2",
                            "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        },
                        {"name": "side", "$patch": "delete"},
                    ],
                },
            }
        }
    }
    r = http.patch(f"{base}/smp", patch, STRATEGIC)
    assert r.status_code == 200, r.text
    tmpl = r.json()["spec"]["template"]
    assert tmpl["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == "now"
    containers = tmpl["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main"]
    main = containers[0]
    assert main["image"] == "img:2"
    assert main["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
    assert main["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]


def test_strategic_merge_service_ports(http: Http, namespace: str) -> None:
    """Service ports merge by `port`."""
    base = f"/api/v1/namespaces/{namespace}/services"
    svc = {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 9090, "name": "m"}]}}
    assert http.post(base, svc).status_code == 201
    r = http.patch(f"{base}/svc", {"spec": {"ports": [{"port": 9090, "targetPort": 9091}]}}, STRATEGIC)
    ports = r.json()["spec"]["ports"]
    assert ports == [{"port": 80, "name": "http"}, {"port": 9090, "name": "m", "targetPort": 9091}]
    assert r.json()["spec"]["clusterIP"]


def test_strategic_merge_unsupported_for_custom_resources(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: strategic merge is 415 UnsupportedMediaType for custom resources; unknown
    patch types too."""
    http.post(wpath(namespace), widget("sm"))
    r = http.patch(wpath(namespace, "sm"), {"spec": {"replicas": 2}}, STRATEGIC)
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    assert http.patch(wpath(namespace, "sm"), {}, "text/plain").status_code == 415


def test_server_side_apply(http: Http, namespace: str, widget_crd: dict) -> None:
    """Server-side apply (simplified): creates when missing, merges the applied config when present,
    requires fieldManager and records it in managedFields."""
    body = widget("ssa", replicas=2)
    r = http.patch(wpath(namespace, "ssa"), body, APPLY)
    assert r.status_code == 400
    r = http.patch(wpath(namespace, "ssa"), body, APPLY, params={"fieldManager": "me"})
    assert r.status_code == 201 and r.json()["spec"]["replicas"] == 2
    body["spec"]["replicas"] = 3
    r = http.patch(wpath(namespace, "ssa"), body, APPLY, params={"fieldManager": "me"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 3
    assert [m["manager"] for m in r.json()["metadata"]["managedFields"]] == ["me"]
    assert r.json()["metadata"]["managedFields"][0]["operation"] == "Apply"


def test_patch_with_stale_resource_version_conflicts(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: a merge patch carrying metadata.resourceVersion is a precondition (409)."""
    obj = http.post(wpath(namespace), widget("pc")).json()
    http.patch(wpath(namespace, "pc"), {"spec": {"replicas": 2}})
    r = http.patch(
        wpath(namespace, "pc"),
        {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "spec": {"replicas": 3}},
    )
    assert r.status_code == 409


def test_patch_missing_object_is_404(http: Http, namespace: str, widget_crd: dict) -> None:
    """kopf treats a 404 on patch as 'the object is gone'."""
    assert http.patch(wpath(namespace, "none"), {"spec": {}}).status_code == 404


def test_an_apply_body_is_yaml_or_json_and_a_broken_one_is_a_400(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: an apply patch is YAML, so block YAML and JSON (which kubectl sends) both apply, to the
    same object; a body that is neither is 400 naming the decoding error, and nothing is written."""
    block = (
        "apiVersion: test.sandbox.dev/v1\nkind: Widget\nmetadata:\n  name: yml\nspec:\n  image: img:1\n  replicas: 4\n"
    )
    params = {"fieldManager": "me"}
    from_yaml = http.patch(wpath(namespace, "yml"), block, APPLY, params=params)
    assert from_yaml.status_code == 201, from_yaml.text
    from_json = http.patch(wpath(namespace, "jsn"), json.dumps(widget("jsn", replicas=4)), APPLY, params=params)
    assert from_json.status_code == 201, from_json.text
    assert from_yaml.json()["spec"] == from_json.json()["spec"]  # the CRD's defaults applied to both
    assert from_yaml.json()["spec"]["replicas"] == 4 and from_yaml.json()["spec"]["image"] == "img:1"
    broken = http.patch(wpath(namespace, "bad"), "spec: [unclosed", APPLY, params=params)
    assert broken.status_code == 400 and "error decoding patch" in broken.json()["message"]
    assert http.get(wpath(namespace, "bad")).status_code == 404
