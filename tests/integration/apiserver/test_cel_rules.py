"""CEL validation rules (`x-kubernetes-validations`) on a CRD, evaluated as kube-apiserver evaluates them.

Each test states what the real server does (apiextensions-apiserver, pkg/apiserver/schema/cel/validation.go
and compilation.go; the Kubernetes docs "Validation rules") and checks the sandbox does the same over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apiserver_support import Http, poll, unique

GROUP = "cel.sandbox.dev"


def _crd(plural: str, kind: str, spec_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": spec_schema,
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }


CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

GADGET_SPEC = {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "has(self.storageUri) != has(self.source)", "message": "set exactly one of storageUri and source"},
        {
            "rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
            "messageExpression": "'minReplicas (' + string(self.minReplicas) + ') must not exceed maxReplicas ('"
            " + string(self.maxReplicas) + ')'",
            "fieldPath": ".minReplicas",
        },
        {"rule": "!has(self.secret) || self.secret == ''", "reason": "FieldValueForbidden", "message": "no secrets"},
        {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable"},
        {"rule": "!has(self.tier) || self.tier != 'gold' || self.lookup > 0"},
    ],
    "properties": {
        "storageUri": {"type": "string"},
        "source": {"type": "string"},
        "minReplicas": {"type": "integer", "default": 1},
        "maxReplicas": {"type": "integer", "default": 10},
        "secret": {"type": "string"},
        "mode": {"type": "string", "default": "fast"},
        "tier": {"type": "string"},
        "lookup": {"type": "integer"},
        "ratio": {"type": "number"},
        "size": {"type": "string", "enum": ["small", "large"]},
        "steps": {
            "type": "array",
            "maxItems": 20,
            "items": {"type": "object", "properties": {"weight": {"type": "integer"}}},
            "x-kubernetes-validations": [
                {
                    "rule": "self.map(s, s.weight).isSorted() && self.all(s, self.exists_one(t, t.weight == s.weight))",
                    "message": "weights must increase",
                }
            ],
        },
        "labels": {
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "x-kubernetes-validations": [{"rule": "self.size() <= 5", "message": "at most 5 characters"}],
            },
        },
        "counter": {
            "type": "integer",
            "x-kubernetes-validations": [
                {"rule": "self >= oldSelf", "message": "counter may not go down"},
                {
                    "rule": "!oldSelf.hasValue() || self >= oldSelf.value() + 0",
                    "optionalOldSelf": True,
                    "message": "counter may not go down (optional)",
                },
                {"rule": "self != 13 || !oldSelf.hasValue()", "optionalOldSelf": True, "message": "13 only on create"},
            ],
        },
        "tasks": {
            "type": "array",
            "maxItems": 10,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "limit": {"type": "integer"}},
                "x-kubernetes-validations": [
                    {"rule": "self.limit >= oldSelf.limit", "message": "limit may not shrink"}
                ],
            },
        },
        "half": {
            "type": "number",
            "x-kubernetes-validations": [{"rule": "self == 0.5 || self == 1.0", "message": "a half or a whole"}],
        },
        "badMessage": {
            "type": "integer",
            "x-kubernetes-validations": [
                {"rule": "self < 5", "message": "too big", "messageExpression": "self.missing + 'x'"},
            ],
        },
    },
}


@pytest.fixture(scope="module")
def gadgets(http: Http) -> Iterator[str]:
    """The Gadget CRD with rules; yields the collection path prefix (namespace is filled in per test)."""
    crd = _crd("gadgets", "Gadget", GADGET_SPEC)
    response = http.post(CRD_PATH, crd)
    assert response.status_code in (201, 409), response.text
    poll(lambda: http.get(f"/apis/{GROUP}/v1").status_code == 200, what="gadget discovery")
    yield f"/apis/{GROUP}/v1/namespaces/{{ns}}/gadgets"
    http.delete(f"{CRD_PATH}/gadgets.{GROUP}")


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": {"source": "x", **spec}}


def _causes(response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["reason"] == "Invalid" and body["code"] == 422
    return body["details"]["causes"]


def test_false_rule_message_and_cause_match_the_real_server(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: `Gadget.cel.sandbox.dev "a" is invalid: spec: Invalid value: "object": set exactly one of
    storageUri and source`: the node's path, the node's *schema type* as the value, the rule's message."""
    body = gadget("a", storageUri="file:///m")
    r = http.post(gadgets.format(ns=namespace), body)
    assert r.json()["message"] == (
        f'Gadget.{GROUP} "a" is invalid: spec: Invalid value: "object": set exactly one of storageUri and source'
    )
    assert _causes(r) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "object": set exactly one of storageUri and source',
            "field": "spec",
        }
    ]
    assert http.get(gadgets.format(ns=namespace) + "/a").status_code == 404


def test_field_path_and_message_expression(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: fieldPath moves the cause under the node (`spec.minReplicas`); messageExpression's string is
    the detail; defaults are applied before rules run (maxReplicas defaulted to 10)."""
    r = http.post(gadgets.format(ns=namespace), gadget("b", minReplicas=11))
    assert _causes(r) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "object": minReplicas (11) must not exceed maxReplicas (10)',
            "field": "spec.minReplicas",
        }
    ]


def test_rule_on_an_array_reports_the_array(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: a rule on an array node: `spec.steps: Invalid value: "array": weights must increase`."""
    r = http.post(gadgets.format(ns=namespace), gadget("c", steps=[{"weight": 50}, {"weight": 25}]))
    assert (
        r.json()["message"]
        == f'Gadget.{GROUP} "c" is invalid: spec.steps: Invalid value: "array": weights must increase'
    )
    equal = http.post(gadgets.format(ns=namespace), gadget("c", steps=[{"weight": 25}, {"weight": 25}]))
    assert [c["field"] for c in _causes(equal)] == ["spec.steps"]
    ok = http.post(gadgets.format(ns=namespace), gadget("c", steps=[{"weight": 25}, {"weight": 50}]))
    assert ok.status_code == 201, ok.text


def test_every_failing_rule_is_a_cause(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: all failing rules are reported, as a bracketed list in the message."""
    body = gadget("d", storageUri="file:///m", minReplicas=20)
    r = http.post(gadgets.format(ns=namespace), body)
    assert {c["field"] for c in _causes(r)} == {"spec", "spec.minReplicas"}
    assert r.json()["message"].startswith(f'Gadget.{GROUP} "d" is invalid: [spec: Invalid value: "object": ')


def test_reason_forbidden(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: `reason: FieldValueForbidden` makes a `Forbidden: <message>` cause of that type."""
    r = http.post(gadgets.format(ns=namespace), gadget("e", secret="hunter2"))
    assert _causes(r) == [{"reason": "FieldValueForbidden", "message": "Forbidden: no secrets", "field": "spec"}]


def test_no_message_means_failed_rule(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: without message or messageExpression the detail is `failed rule: <rule>`."""
    r = http.post(gadgets.format(ns=namespace), gadget("f", tier="gold", lookup=0))
    assert (
        _causes(r)[0]["message"]
        == "Invalid value: \"object\": failed rule: !has(self.tier) || self.tier != 'gold' || self.lookup > 0"
    )


def test_evaluation_error_is_reported_with_the_rule(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: a rule that cannot be evaluated (a missing key without has()) is `<error> evaluating rule:
    <message or rule>`, with `no such key: <name>`."""
    r = http.post(gadgets.format(ns=namespace), gadget("g", tier="gold"))
    assert _causes(r) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "object": no such key: lookup evaluating rule: '
            "!has(self.tier) || self.tier != 'gold' || self.lookup > 0",
            "field": "spec",
        }
    ]


def test_failing_message_expression_falls_back_to_message(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: a messageExpression that fails to evaluate is logged; the cause carries `message`."""
    r = http.post(gadgets.format(ns=namespace), gadget("h", badMessage=7))
    assert _causes(r) == [
        {"reason": "FieldValueInvalid", "message": 'Invalid value: "integer": too big', "field": "spec.badMessage"}
    ]


def test_numbers_are_doubles_and_map_values_have_their_own_path(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: a `number` field is a CEL double even when sent as 1 (so `self == 1.0` holds); a rule on
    additionalProperties runs per value at `spec.labels[key]`."""
    assert http.post(gadgets.format(ns=namespace), gadget("i", half=1)).status_code == 201
    r = http.post(gadgets.format(ns=namespace), gadget("j", labels={"ok": "abc", "long": "abcdefg"}))
    assert _causes(r) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "string": at most 5 characters',
            "field": "spec.labels[long]",
        }
    ]


def test_transition_rules_run_only_on_update(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: a rule that uses oldSelf is skipped on create (no old value) and checked on update;
    with optionalOldSelf it also runs on create, oldSelf being optional.none()."""
    path = gadgets.format(ns=namespace)
    created = http.post(path, gadget("k", counter=5, mode="slow"))
    assert created.status_code == 201, created.text
    obj = created.json()
    obj["spec"]["counter"] = 3
    obj["spec"]["mode"] = "fast"
    causes = _causes(http.put(f"{path}/k", obj))
    assert {(c["field"], c["message"]) for c in causes} == {
        ("spec", 'Invalid value: "object": mode is immutable'),
        ("spec.counter", 'Invalid value: "integer": counter may not go down'),
        ("spec.counter", 'Invalid value: "integer": counter may not go down (optional)'),
    }
    up = http.patch(f"{path}/k", {"spec": {"counter": 6}})
    assert up.status_code == 200, up.text
    # optionalOldSelf: runs on create too.
    assert http.post(path, gadget("k13", counter=13)).status_code == 201
    thirteen = http.patch(f"{path}/k", {"spec": {"counter": 13}})
    assert [c["message"] for c in _causes(thirteen)] == ['Invalid value: "integer": 13 only on create']


def test_map_list_items_correlate_by_key(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: items of an `x-kubernetes-list-type: map` list get the old item with the same keys as
    oldSelf, wherever it moved; a new item has no old value, so its transition rules do not run."""
    path = gadgets.format(ns=namespace)
    tasks = [{"name": "a", "limit": 5}, {"name": "b", "limit": 5}]
    assert http.post(path, gadget("m", tasks=tasks)).status_code == 201
    moved = [{"name": "c", "limit": 1}, {"name": "b", "limit": 6}, {"name": "a", "limit": 5}]
    assert http.patch(f"{path}/m", {"spec": {"tasks": moved}}).status_code == 200
    shrunk = [{"name": "c", "limit": 1}, {"name": "a", "limit": 6}, {"name": "b", "limit": 2}]
    causes = _causes(http.patch(f"{path}/m", {"spec": {"tasks": shrunk}}))
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "object": limit may not shrink',
            "field": "spec.tasks[2]",
        }
    ]


def test_unchanged_values_are_ratcheted(http: Http, namespace: str) -> None:
    """Real server (CRDValidationRatcheting, default on): an object stored before a rule existed can still be
    written while the offending value is unchanged (a warning is returned); changing that value is refused."""
    plural = f"r{unique('').replace('-', '')}"
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    assert http.post(CRD_PATH, _crd(plural, "Ratchet", schema)).status_code == 201
    try:
        path = f"/apis/{GROUP}/v1/namespaces/{namespace}/{plural}"
        poll(lambda: http.get(path).status_code == 200, what="ratchet discovery")
        body = {"apiVersion": f"{GROUP}/v1", "kind": "Ratchet", "metadata": {"name": "old"}, "spec": {"a": 5, "b": 1}}
        assert http.post(path, body).status_code == 201
        crd = http.get(f"{CRD_PATH}/{plural}.{GROUP}").json()
        spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        spec_schema["properties"]["a"]["x-kubernetes-validations"] = [{"rule": "self < 3", "message": "a must be < 3"}]
        assert http.put(f"{CRD_PATH}/{plural}.{GROUP}", crd).status_code == 200
        same = http.patch(f"{path}/old", {"spec": {"b": 2}, "metadata": {"labels": {"x": "y"}}})
        assert same.status_code == 200, same.text
        assert "spec.a: Invalid value" in same.headers.get("Warning", "")
        status = http.patch(f"{path}/old/status", {"status": {"seen": True}})
        assert status.status_code == 200, status.text
        changed = http.patch(f"{path}/old", {"spec": {"a": 4}})
        assert [c["field"] for c in _causes(changed)] == ["spec.a"]
        fresh = http.post(path, {**body, "metadata": {"name": "new"}})
        assert [c["message"] for c in _causes(fresh)] == ['Invalid value: "integer": a must be < 3']
    finally:
        http.delete(f"{CRD_PATH}/{plural}.{GROUP}")


def test_schema_errors_block_the_rules(http: Http, namespace: str, gadgets: str) -> None:
    """Real server: with a type, enum, required or size error, no rule runs and one cause at `<nil>` says so."""
    r = http.post(gadgets.format(ns=namespace), gadget("l", size="medium", storageUri="file:///m"))
    assert _causes(r) == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "medium": supported values: "small", "large"',
            "field": "spec.size",
        },
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "null": some validation rules were not checked because the object was invalid; '
            "correct the existing errors to complete validation",
            "field": "<nil>",
        },
    ]


def test_transition_rules_under_a_plain_list_are_refused(http: Http) -> None:
    """Real server: items of a list that is not a map list have no old value to compare with, so a CRD whose
    rule there uses oldSelf is refused: `oldSelf cannot be used on the uncorrelatable portion of the schema`."""
    items = {"type": "object", "properties": {"n": {"type": "integer"}}}
    items["x-kubernetes-validations"] = [{"rule": "self.n >= oldSelf.n"}]
    schema = {"type": "object", "properties": {"list": {"type": "array", "items": items}}}
    causes = _causes(http.post(CRD_PATH, _crd("plains", "Plain", schema)))
    where = "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[list].items.x-kubernetes-validations[0].rule"
    assert [c["field"] for c in causes] == [where]
    assert (
        "oldSelf cannot be used on the uncorrelatable portion of the schema within spec.list[*]" in causes[0]["message"]
    )


@pytest.mark.parametrize(
    ("rule", "field", "fragment"),
    [
        ({"rule": "self.a >"}, "rule", "compilation failed: ERROR: <input>:1:9: Syntax error:"),
        ({"rule": "self.a.frobnicate()"}, "rule", "undeclared reference to 'frobnicate'"),
        (
            {"rule": "has(self.a)", "messageExpression": "'x' +"},
            "messageExpression",
            "messageExpression compilation failed",
        ),
        ({"rule": "has(self.a)", "fieldPath": ".nope"}, "fieldPath", "fieldPath must be a valid path"),
        ({"rule": "has(self.a)", "message": "two\nlines"}, "message", "message must not contain line breaks"),
        ({"rule": " "}, "rule", "Required value: rule is not specified"),
        ({"rule": "has(self.a)", "reason": "FieldValueBroken"}, "reason", "Unsupported value"),
    ],
    ids=["syntax", "unknown-function", "message-expression", "field-path", "message-lines", "empty", "reason"],
)
def test_a_crd_with_a_broken_rule_is_refused(http: Http, rule: dict[str, Any], field: str, fragment: str) -> None:
    """Real server: the rules are compiled when the CRD is written; a broken one refuses the CRD at
    `spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].<field>`."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "x-kubernetes-validations": [rule]}
    r = http.post(CRD_PATH, _crd("brokens", "Broken", schema))
    causes = _causes(r)
    where = f"spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].{field}"
    assert any(c["field"] == where and fragment in c["message"] for c in causes), causes
    assert http.get(f"{CRD_PATH}/brokens.{GROUP}").status_code == 404


@pytest.mark.parametrize(
    "expression",
    [
        "[1, 2, 2].isSorted() && ![2, 1].isSorted()",
        "[1, 2].sum() == 3 && [3, 1].min() == 1 && [3, 1].max() == 3",
        "[1, 2, 2].indexOf(2) == 1 && [1, 2, 2].lastIndexOf(2) == 2",
        "'abcabc'.indexOf('c') == 2 && 'abcabc'.indexOf('c', 3) == 5 && 'abcabc'.lastIndexOf('a') == 3",
        "['a', 'b'].join(', ') == 'a, b' && 'a,b'.split(',') == ['a', 'b'] && '  x '.trim() == 'x'",
        "'Ab'.lowerAscii() == 'ab' && 'abc'.substring(1) == 'bc' && 'abc'.charAt(1) == 'b'",
        "'x-1 y-2'.find('[0-9]') == '1' && 'x-1 y-2'.findAll('[0-9]') == ['1', '2']",
        "sets.contains([1, 2], [1]) && sets.intersects([1], [1, 3]) && sets.equivalent([1, 2], [2, 1])",
        "[1, 2, 3].all(x, x > 0) && [1, 2].exists(x, x == 2) && [1, 2].exists_one(x, x == 2)",
        "[1, 2, 3].filter(x, x > 1).map(x, x * 2) == [4, 6] && size([1]) == 1 && 'abc'.size() == 3",
        "'abc'.matches('^a') && 'abc'.startsWith('a') && 'abc'.endsWith('c') && 'abc'.contains('b')",
        "1 < 1.5 && 2.0 == 2 && duration('1h') > duration('30m') && string(2.5) == '2.5'",
        "optional.none().orValue(3) == 3 && optional.of(1).hasValue()",
    ],
)
def test_the_library_functions_the_rules_may_use(expression: str) -> None:
    """The Kubernetes list and regex libraries, cel-go's strings and sets extensions, the standard macros,
    cross-type numeric comparison and optionals (Kubernetes 1.28+), as kube-apiserver evaluates them."""
    from mlaiops_sandbox.apiserver import celrules

    program, _ = celrules.compile_expression(expression)
    assert program.execute(celrules._context({})) is True
