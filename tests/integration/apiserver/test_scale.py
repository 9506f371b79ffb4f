"""The scale subresource (autoscaling/v1 Scale) for built-ins and for CRDs declaring it."""

from __future__ import annotations

from apiserver_support import JSON_PATCH, Http, widget, wpath


def _deployment(name: str, replicas: int = 2) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }


def test_deployment_scale(http: Http, namespace: str) -> None:
    """Real server: GET /scale gives Scale with spec.replicas and status.selector; PUT and PATCH
    change the Deployment's spec.replicas (and bump its generation)."""
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    http.post(base, _deployment("d"))
    http.patch(f"{base}/d/status", {"status": {"replicas": 2}})
    scale = http.get(f"{base}/d/scale").json()
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 2, "selector": "app=d"}
    scale["spec"]["replicas"] = 4
    assert http.put(f"{base}/d/scale", scale).json()["spec"]["replicas"] == 4
    assert http.patch(f"{base}/d/scale", {"spec": {"replicas": 5}}).json()["spec"]["replicas"] == 5
    dep = http.get(f"{base}/d").json()
    assert dep["spec"]["replicas"] == 5 and dep["metadata"]["generation"] == 3
    stale = dict(scale, spec={"replicas": 1})
    assert http.put(f"{base}/d/scale", stale).status_code == 409
    r = http.patch(f"{base}/d/scale", [{"op": "replace", "path": "/spec/replicas", "value": -1}], JSON_PATCH)
    assert r.status_code == 422


def test_statefulset_scale(http: Http, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/statefulsets"
    http.post(base, _deployment("s", 1))
    assert http.patch(f"{base}/s/scale", {"spec": {"replicas": 3}}).json()["spec"]["replicas"] == 3


def test_crd_scale_paths(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: a CRD's scale subresource maps Scale onto specReplicasPath,
    statusReplicasPath and labelSelectorPath; schema validation still applies."""
    http.post(wpath(namespace), widget("sc", replicas=1))
    http.patch(wpath(namespace, "sc", "status"), {"status": {"replicas": 1, "selector": "app=sc"}})
    scale = http.get(wpath(namespace, "sc", "scale")).json()
    assert scale["spec"]["replicas"] == 1 and scale["status"] == {"replicas": 1, "selector": "app=sc"}
    assert http.patch(wpath(namespace, "sc", "scale"), {"spec": {"replicas": 3}}).status_code == 200
    assert http.get(wpath(namespace, "sc")).json()["spec"]["replicas"] == 3
    r = http.patch(wpath(namespace, "sc", "scale"), {"spec": {"replicas": 50}})
    assert r.status_code == 422


def test_no_scale_subresource_is_404(http: Http, namespace: str) -> None:
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}})
    assert http.get(f"/api/v1/namespaces/{namespace}/configmaps/c/scale").status_code == 404
    assert http.get(f"/api/v1/namespaces/{namespace}/configmaps/c/status").status_code == 404
