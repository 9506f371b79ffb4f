"""Discovery, /version, /openapi/v3 and health endpoints, as kopf and kubectl read them."""

from __future__ import annotations

from apiserver_support import Http, crd_body, poll, unique


def _resources(http: Http, path: str) -> dict[str, dict]:
    doc = http.get(path).json()
    assert doc["kind"] == "APIResourceList"
    return {r["name"]: r for r in doc["resources"]}


def test_version_and_health(http: Http) -> None:
    """Real server: /version has major/minor/gitVersion; /healthz, /livez, /readyz answer `ok`."""
    version = http.get("/version").json()
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    for path in ("/healthz", "/livez", "/readyz"):
        response = http.get(path)
        assert response.status_code == 200 and response.text == "ok"


def test_core_discovery(http: Http) -> None:
    """Real server: /api lists v1; /api/v1 says namespaces are cluster-scoped, pods namespaced,
    with verbs, shortNames and `pods/status` as a subresource entry (kopf patches status through it)."""
    assert http.get("/api").json()["versions"] == ["v1"]
    res = _resources(http, "/api/v1")
    assert res["namespaces"]["namespaced"] is False
    assert res["pods"]["namespaced"] is True
    assert {"list", "watch", "patch", "create", "get"} <= set(res["pods"]["verbs"])
    assert "po" in res["pods"]["shortNames"]
    assert "all" in res["pods"]["categories"]
    assert "pods/status" in res
    for plural in (
        "services",
        "events",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "persistentvolumeclaims",
        "endpoints",
    ):
        assert plural in res


def test_group_discovery(http: Http) -> None:
    """Real server: /apis lists groups with preferredVersion; /apis/apps/v1 has deployments with
    status and scale subresources, the scale one typed autoscaling/v1 Scale (kubectl scale needs it)."""
    groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
    for group in (
        "apps",
        "batch",
        "autoscaling",
        "events.k8s.io",
        "apiextensions.k8s.io",
        "coordination.k8s.io",
        "rbac.authorization.k8s.io",
        "admissionregistration.k8s.io",
    ):
        assert group in groups, group
    assert groups["apps"]["preferredVersion"]["version"] == "v1"
    apps = _resources(http, "/apis/apps/v1")
    assert {"deployments/status", "deployments/scale", "statefulsets/scale", "replicasets/scale"} <= set(apps)
    scale = apps["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert "batch" in http.get("/apis/batch").json()["name"]
    assert "jobs/status" in _resources(http, "/apis/batch/v1")
    assert "horizontalpodautoscalers" in _resources(http, "/apis/autoscaling/v2")
    assert _resources(http, "/apis/apiextensions.k8s.io/v1")["customresourcedefinitions"]["namespaced"] is False


def test_unknown_group_version_is_404(http: Http) -> None:
    """Real server: an unserved group/version is a 404 (kopf tolerates it while scanning)."""
    assert http.get("/apis/kopf.dev/v1").status_code == 404
    assert http.get("/apis/nope.example.com").status_code == 404


def test_crd_appears_in_discovery_and_emits_event(http: Http) -> None:
    """Real server: a new CRD gets Established/NamesAccepted conditions and acceptedNames, its
    group appears in /apis and /apis/<g>/<v>, and watchers of CRDs get an event (kopf rescans)."""
    group = f"{unique('g')}.example.com"
    crd = crd_body(group, "gizmos", "Gizmo", scope="Cluster", subresources={"status": {}})
    crd["spec"]["names"] |= {"shortNames": ["gz"], "categories": ["things"]}
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    rv = http.get(crd_path).json()["metadata"]["resourceVersion"]
    with http.watch(crd_path, {"resourceVersion": rv}) as stream:
        created = http.post(crd_path, crd)
        assert created.status_code == 201
        events = stream.collect(lambda ev: any(e["object"]["metadata"]["name"] == f"gizmos.{group}" for e in ev))
    assert events[-1]["type"] == "ADDED"
    status = http.get(f"{crd_path}/gizmos.{group}").json()["status"]
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds["Established"] == "True" and conds["NamesAccepted"] == "True"
    assert status["acceptedNames"]["kind"] == "Gizmo"
    assert group in [g["name"] for g in http.get("/apis").json()["groups"]]
    res = _resources(http, f"/apis/{group}/v1")
    assert res["gizmos"]["namespaced"] is False
    assert res["gizmos"]["shortNames"] == ["gz"] and res["gizmos"]["categories"] == ["things"]
    assert "gizmos/status" in res
    assert http.delete(f"{crd_path}/gizmos.{group}").status_code == 200
    poll(lambda: http.get(f"/apis/{group}/v1").status_code == 404, what="group gone from discovery")


def test_openapi_v3_declares_field_validation(http: Http, widget_crd: dict) -> None:
    """Real server: /openapi/v3 points at per-group-version documents whose POST and PATCH
    operations carry x-kubernetes-group-version-kind, x-kubernetes-action and a fieldValidation
    parameter; kubectl then sends fieldValidation=Strict instead of validating client-side."""
    root = http.get("/openapi/v3").json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/test.sandbox.dev/v1"} <= set(root)
    doc = http.get(root["apis/test.sandbox.dev/v1"]["serverRelativeURL"]).json()
    collection = doc["paths"]["/apis/test.sandbox.dev/v1/namespaces/{namespace}/widgets"]
    post = collection["post"]
    assert post["x-kubernetes-action"] == "post"
    assert post["x-kubernetes-group-version-kind"] == {"group": "test.sandbox.dev", "version": "v1", "kind": "Widget"}
    assert "fieldValidation" in [p["name"] for p in post["parameters"]]
    item_patch = doc["paths"]["/apis/test.sandbox.dev/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert item_patch["x-kubernetes-action"] == "patch"
    assert "fieldValidation" in [p["name"] for p in item_patch["parameters"]]
    schemas = doc["components"]["schemas"]
    assert any("spec" in s.get("properties", {}) for s in schemas.values())
    assert http.get("/openapi/v3/apis/nope.example.com/v1").status_code == 404


def test_openapi_v3_follows_a_crd_update(http: Http) -> None:
    """Real server: a CRD's schema change is republished in its group-version document and changes the hash
    in the /openapi/v3 index (kubectl caches documents by that hash, so a stale one would validate against
    the old schema); a second read of an unchanged document is the same document under the same hash."""
    group = unique("docs") + ".example.com"
    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

    def schema(*fields: str) -> dict:
        spec = {"type": "object", "properties": {name: {"type": "string"} for name in fields}}
        return {"type": "object", "properties": {"spec": spec}}

    crd = crd_body(group, "notes", "Note", schema=schema("text"))
    assert http.post(crd_path, crd).status_code == 201
    gv = f"apis/{group}/v1"
    poll(lambda: gv in http.get("/openapi/v3").json()["paths"], what="the group's document in the index")

    def published() -> tuple[str, dict]:
        url = http.get("/openapi/v3").json()["paths"][gv]["serverRelativeURL"]
        note = http.get(url).json()["components"]["schemas"]
        return url, next(iter(note.values()))["properties"]["spec"]["properties"]

    before_url, before = published()
    assert published() == (before_url, before)
    assert set(before) == {"text"}
    current = http.get(f"{crd_path}/notes.{group}").json()
    current["spec"]["versions"][0]["schema"] = {"openAPIV3Schema": schema("text", "author")}
    assert http.put(f"{crd_path}/notes.{group}", current).status_code == 200
    poll(lambda: set(published()[1]) == {"text", "author"}, what="the new schema in the document")
    assert published()[0] != before_url
    assert http.delete(f"{crd_path}/notes.{group}").status_code == 200
    poll(lambda: gv not in http.get("/openapi/v3").json()["paths"], what="the document gone from the index")
