"""Custom resources against their CRD's openAPIV3Schema: validation (422), defaulting, pruning,
server-side field validation, and CRD deletion."""

from __future__ import annotations

import pytest
from apiserver_support import Http, poll, widget, wpath


def _causes(response) -> dict[str, dict]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["reason"] == "Invalid" and body["code"] == 422
    return {c["field"]: c for c in body["details"]["causes"]}


def test_invalid_value_message_matches_real_server(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: `Widget.test.sandbox.dev "x" is invalid: spec.replicas: Invalid value: -1:
    spec.replicas in body should be greater than or equal to 0`, cause FieldValueInvalid."""
    r = http.post(wpath(namespace), widget("x", replicas=-1))
    causes = _causes(r)
    assert r.json()["message"] == (
        'Widget.test.sandbox.dev "x" is invalid: spec.replicas: Invalid value: -1: '
        "spec.replicas in body should be greater than or equal to 0"
    )
    assert causes["spec.replicas"] == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        "field": "spec.replicas",
    }
    assert r.json()["details"]["name"] == "x" and r.json()["details"]["kind"] == "Widget"


@pytest.mark.parametrize(
    ("spec", "field", "reason", "fragment"),
    [
        ({"replicas": 11}, "spec.replicas", "FieldValueInvalid", "should be less than or equal to 10"),
        ({"replicas": "two"}, "spec.replicas", "FieldValueTypeInvalid", "must be of type integer"),
        ({"size": "huge"}, "spec.size", "FieldValueNotSupported", 'supported values: "small", "medium", "large"'),
        ({"ratio": 0}, "spec.ratio", "FieldValueInvalid", "should be greater than 0"),
        ({"ratio": 1.5}, "spec.ratio", "FieldValueInvalid", "should be less than or equal to 1"),
        ({"image": ""}, "spec.image", "FieldValueInvalid", "should be at least 1 chars long"),
        ({"image": "UPPER"}, "spec.image", "FieldValueInvalid", "should match"),
        ({"tags": []}, "spec.tags", "FieldValueInvalid", "should have at least 1 items"),
        ({"tags": ["a", "b", "c", "d"]}, "spec.tags", "FieldValueTooMany", "must have at most 3 items"),
        ({"tags": ["waytoolongtag"]}, "spec.tags[0]", "FieldValueTooLong", "may not be more than 8"),
        ({"labels": {"a": 1}}, "spec.labels.a", "FieldValueTypeInvalid", "must be of type string"),
        ({"port": 1.5}, "spec.port", "FieldValueTypeInvalid", "must be of type integer,string"),
        ({"resources": {"cpu": 2}}, "spec.resources.cpu", "FieldValueTypeInvalid", "must be of type string"),
        ({"quantity": "1Tb"}, "spec.quantity", "FieldValueInvalid", "should match"),
        ({"quantity": True}, "spec.quantity", "FieldValueTypeInvalid", "must be of type integer,string"),
        ({"mode": "fast-and-safe"}, "spec.mode", "FieldValueInvalid", "must validate one and only one schema"),
        ({"mode": "slow"}, "spec.mode", "FieldValueInvalid", "must validate one and only one schema"),
    ],
)
def test_schema_violations(
    http: Http, namespace: str, widget_crd: dict, spec: dict, field: str, reason: str, fragment: str
) -> None:
    """Real server: each schema keyword yields a cause with the field path and the same reason."""
    r = http.post(wpath(namespace), widget("v", **spec))
    assert r.status_code == 422, r.text
    found = [c for c in r.json()["details"]["causes"] if c["field"] == field]
    assert any(c["reason"] == reason and fragment in c["message"] for c in found), found


def test_required_field(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: a missing required property is FieldValueRequired `Required value`."""
    body = widget("req")
    del body["spec"]["image"]
    causes = _causes(http.post(wpath(namespace), body))
    assert causes["spec.image"] == {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.image"}


def test_format_on_status(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: `format: date-time` is checked; status writes are validated too."""
    http.post(wpath(namespace), widget("f"))
    bad = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "yesterday"}]}}
    causes = _causes(http.patch(wpath(namespace, "f", "status"), bad))
    assert "status.conditions[0].lastTransitionTime" in causes


def test_valid_variants_accepted(http: Http, namespace: str, widget_crd: dict) -> None:
    """int-or-string takes both (anyOf integer|string with a pattern only checks strings),
    nullable takes null, additionalProperties maps take any keys, oneOf takes exactly one match."""
    for i, port in enumerate([8080, "http"]):
        body = widget(
            f"ok{i}", port=port, quantity=port if i == 0 else "5Gi", note=None, labels={"any": "thing"}, mode="fast"
        )
        r = http.post(wpath(namespace), body)
        assert r.status_code == 201, r.text
        assert r.json()["spec"]["port"] == port and r.json()["spec"]["note"] is None


def test_defaults_applied(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: structural defaulting fills missing fields, including nested objects present."""
    obj = http.post(wpath(namespace), widget("d", resources={"memory": "1Gi"})).json()
    assert obj["spec"]["replicas"] == 1 and obj["spec"]["size"] == "small"
    assert obj["spec"]["resources"] == {"memory": "1Gi", "cpu": "100m"}


def test_unknown_fields_pruned_unless_preserved(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: fields not in the schema are dropped (default fieldValidation Warn adds a
    Warning header); under x-kubernetes-preserve-unknown-fields they are kept."""
    r = http.post(wpath(namespace), widget("p", bogus=1, extra={"free": {"form": True}}))
    assert r.status_code == 201
    assert "bogus" not in r.json()["spec"]
    assert r.json()["spec"]["extra"] == {"free": {"form": True}}
    assert 'unknown field \\"spec.bogus\\"' in r.headers.get("Warning", "")


def test_field_validation_strict_warn_ignore(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: fieldValidation=Strict refuses unknown fields with 400 BadRequest
    `strict decoding error: unknown field "spec.foo"`; Warn accepts with a Warning header;
    Ignore silently prunes."""
    r = http.post(wpath(namespace), widget("s1", foo=1), params={"fieldValidation": "Strict"})
    assert r.status_code == 400
    assert r.json()["reason"] == "BadRequest"
    assert r.json()["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.foo"'
    )
    r = http.post(wpath(namespace), widget("s2", foo=1), params={"fieldValidation": "Warn"})
    assert r.status_code == 201 and r.headers["Warning"].startswith("299 - ")
    r = http.post(wpath(namespace), widget("s3", foo=1), params={"fieldValidation": "Ignore"})
    assert r.status_code == 201 and "Warning" not in r.headers and "foo" not in r.json()["spec"]
    r = http.patch(wpath(namespace, "s3"), {"spec": {"bar": 2}}, params={"fieldValidation": "Strict"})
    assert r.status_code == 400 and r.json()["message"] == 'strict decoding error: unknown field "spec.bar"'
    assert http.post(wpath(namespace), widget("s4"), params={"fieldValidation": "Bogus"}).status_code == 400


def test_invalid_update_leaves_object_unchanged(http: Http, namespace: str, widget_crd: dict) -> None:
    """Real server: a rejected patch writes nothing."""
    rv = http.post(wpath(namespace), widget("u")).json()["metadata"]["resourceVersion"]
    assert http.patch(wpath(namespace, "u"), {"spec": {"replicas": 100}}).status_code == 422
    assert http.get(wpath(namespace, "u")).json()["metadata"]["resourceVersion"] == rv


def test_deleting_crd_deletes_its_objects(http: Http, namespace: str) -> None:
    """Real server: deleting a CRD deletes all its custom resources, then the CRD and its API."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "doomeds.doom.example.com"},
        "spec": {
            "group": "doom.example.com",
            "scope": "Namespaced",
            "names": {"plural": "doomeds", "kind": "Doomed"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert http.post(crds, crd).status_code == 201
    base = f"/apis/doom.example.com/v1/namespaces/{namespace}/doomeds"
    assert http.post(base, {"metadata": {"name": "a"}}).status_code == 201
    assert http.post(base, {"metadata": {"name": "b", "finalizers": ["x/y"]}}).status_code == 201
    assert http.delete(f"{crds}/doomeds.doom.example.com").status_code == 200
    b = poll(lambda: (o := http.get(f"{base}/b").json()).get("metadata", {}).get("deletionTimestamp") and o)
    assert http.get(f"{base}/a").status_code == 404
    crd_now = http.get(f"{crds}/doomeds.doom.example.com").json()
    assert crd_now["metadata"]["deletionTimestamp"]
    assert any(c["type"] == "Terminating" for c in crd_now["status"]["conditions"])
    http.patch(f"{base}/b", [{"op": "remove", "path": "/metadata/finalizers"}], ctype="application/json-patch+json")
    poll(lambda: http.get(f"{crds}/doomeds.doom.example.com").status_code == 404, what="CRD gone")
    assert http.get("/apis/doom.example.com/v1").status_code == 404
    assert b["metadata"]["name"] == "b"


def test_crd_itself_is_validated(http: Http) -> None:
    """Real server: a CRD whose name is not <plural>.<group> is invalid."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "wrong.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    r = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert r.status_code == 422 and "metadata.name" in {c["field"] for c in r.json()["details"]["causes"]}
