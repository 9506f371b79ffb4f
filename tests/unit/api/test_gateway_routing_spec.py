"""Gateway API routing in the ModelDeployment spec: the model, the webhook and the CRD's CEL rules refuse the
same bad steps, each naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from mlaiops_sandbox.apiserver import celrules, schema
from pydantic import ValidationError

from mlaiops.admission.validate import validate
from mlaiops.api.errors import field_errors
from mlaiops.api.modeldeployment import ModelDeploymentSpec
from tests.unit.api.helpers import crd_schema

ROUTING = {"gatewayAPI": {"httpRoute": "iris"}}
HEADER = {"name": "beta", "match": [{"headerName": "X-Tenant", "headerValue": {"exact": "beta"}}]}
MIRROR = {"name": "shadow", "percentage": 20}


def md(steps: list[dict[str, Any]], routing: dict[str, Any] | None = ROUTING) -> dict[str, Any]:
    rollout: dict[str, Any] = {"canary": {"steps": steps}}
    if routing is not None:
        rollout["trafficRouting"] = routing
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ml"},
        "spec": {"model": {"storageUri": "file:///m/a.joblib"}, "rollout": rollout},
    }


def cel_errors(obj: dict[str, Any]) -> list[str]:
    root = crd_schema("ModelDeployment")
    obj = copy.deepcopy(obj)
    schema.apply_defaults(obj, root)
    return [str(e) for e in schema.validate(obj, root)] + [str(e) for e in celrules.validate(obj, root)[0]]


def test_a_full_gateway_spec_is_admitted_everywhere() -> None:
    obj = md([{"setMirrorRoute": MIRROR}, {"weight": 5}, {"setHeaderRoute": HEADER}, {"weight": 25}, {"weight": 50}])
    spec = ModelDeploymentSpec.model_validate(obj["spec"])
    assert spec.rollout.traffic_routing is not None and spec.rollout.traffic_routing.gateway_api.http_route == "iris"
    assert spec.to_dict()["rollout"]["trafficRouting"] == {"gatewayAPI": {"httpRoute": "iris"}}
    assert validate("ModelDeployment", obj) == []
    assert cel_errors(obj) == []


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    # id, object, the webhook's line (field: message), what the CEL refusal says
    (
        "header-without-gateway",
        md([{"weight": 5}, {"setHeaderRoute": HEADER}], routing=None),
        "spec.rollout: canary.steps[1].setHeaderRoute needs trafficRouting.gatewayAPI (an HTTPRoute)",
        "setHeaderRoute and setMirrorRoute steps need trafficRouting.gatewayAPI",
    ),
    (
        "mirror-without-gateway",
        md([{"setMirrorRoute": MIRROR}, {"weight": 5}], routing=None),
        "spec.rollout: canary.steps[0].setMirrorRoute needs trafficRouting.gatewayAPI (an HTTPRoute)",
        "setHeaderRoute and setMirrorRoute steps need trafficRouting.gatewayAPI",
    ),
    (
        "two-actions",
        md([{"weight": 5, "setMirrorRoute": MIRROR}]),
        "spec.rollout.canary.steps[0]: set exactly one of weight, setHeaderRoute and setMirrorRoute",
        "set exactly one of weight, setHeaderRoute and setMirrorRoute",
    ),
    (
        "no-action",
        md([{"pause": "1m"}]),
        "spec.rollout.canary.steps[0]: set exactly one of weight, setHeaderRoute and setMirrorRoute",
        "set exactly one of weight, setHeaderRoute and setMirrorRoute",
    ),
    (
        "weights-across-a-header-step",
        md([{"weight": 25}, {"setHeaderRoute": HEADER}, {"weight": 5}]),
        "spec.rollout.canary: steps[2].weight (5) must be greater than steps[0].weight (25)",
        "weights must strictly increase from step to step",
    ),
    (
        "duplicate-route-names",
        md([{"setHeaderRoute": HEADER}, {"setMirrorRoute": {**MIRROR, "name": "beta"}}]),
        "spec.rollout.canary: setHeaderRoute and setMirrorRoute names must be unique among the steps: beta",
        "setHeaderRoute and setMirrorRoute names must be unique among the steps",
    ),
    (
        "two-header-values",
        md(
            [
                {
                    "setHeaderRoute": {
                        **HEADER,
                        "match": [{"headerName": "X", "headerValue": {"exact": "a", "regex": "b"}}],
                    }
                }
            ]
        ),
        "spec.rollout.canary.steps[0].setHeaderRoute.match[0].headerValue: set exactly one of exact, prefix and regex",
        "set exactly one of exact, prefix and regex",
    ),
    (
        "mirror-percentage",
        md([{"setMirrorRoute": {**MIRROR, "percentage": 0}}]),
        "spec.rollout.canary.steps[0].setMirrorRoute.percentage: Input should be greater than or equal to 1",
        "percentage",
    ),
    (
        "route-name",
        md([{"weight": 5}], routing={"gatewayAPI": {"httpRoute": "Not_A_Name"}}),
        "spec.rollout.trafficRouting.gatewayAPI.httpRoute: String should match pattern",
        "httpRoute",
    ),
    (
        "header-name",
        md([{"setHeaderRoute": {**HEADER, "match": [{"headerName": "bad header", "headerValue": {"exact": "a"}}]}}]),
        "spec.rollout.canary.steps[0].setHeaderRoute.match[0].headerName: String should match pattern",
        "headerName",
    ),
]


@pytest.mark.parametrize(("obj", "line", "cel"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_steps_are_refused_naming_the_field(obj: dict[str, Any], line: str, cel: str) -> None:
    errors = validate("ModelDeployment", obj)
    assert any(error.startswith(line) for error in errors), errors
    with pytest.raises(ValidationError) as caught:
        ModelDeploymentSpec.model_validate(obj["spec"])
    field, _, text = line.partition(": ")
    assert any(f"spec.{path}" if not path.startswith("spec") else path for path, _ in field_errors(caught.value))
    assert any(found == field and message.startswith(text) for found, message in field_errors(caught.value)), (
        field_errors(caught.value)
    )
    refused = cel_errors(obj)
    assert any(cel in error for error in refused), refused
