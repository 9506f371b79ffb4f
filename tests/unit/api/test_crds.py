"""The generated CRDs: fresh, structural, accepted by Kubernetes' own schema, and faithful to the models."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from mlaiops_sandbox.apiserver.schema import apply_defaults

from mlaiops import crdgen
from mlaiops.api import KINDS, KINDS_BY_NAME
from tests.cli_runner import mlaiops
from tests.unit.api.helpers import CRDS, crd_documents, crd_schema, example_objects

KUBERNETES_VERSION = kubernetes_validate.latest_version()
UNION_KEYWORDS = ("anyOf", "oneOf", "allOf", "not")
# Inside a union, the structural rules forbid everything that would say what a value *is*.
FORBIDDEN_IN_UNIONS = ("type", "description", "default", "additionalProperties", "nullable", "properties", "items")


def _documents() -> list[dict[str, Any]]:
    return crd_documents()


def structural_problems(node: Any, path: str = "") -> list[str]:
    """Violations of the Kubernetes structural schema rules (the subset our generator could break)."""
    problems: list[str] = []
    if not isinstance(node, dict):
        return problems
    if "$ref" in node:
        problems.append(f"{path}: $ref is not allowed")
    escape = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    if "type" not in node and not escape:
        problems.append(f"{path}: every node needs a type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties are mutually exclusive")
    if node.get("x-kubernetes-int-or-string") and node.get("anyOf") not in (
        None,
        [{"type": "integer"}, {"type": "string"}],
    ):
        problems.append(f"{path}: int-or-string allows only anyOf [integer, string]")
    for keyword in UNION_KEYWORDS:
        for index, branch in enumerate(node.get(keyword, [])):
            for forbidden in FORBIDDEN_IN_UNIONS:
                if forbidden in branch and not (keyword == "anyOf" and node.get("x-kubernetes-int-or-string")):
                    problems.append(f"{path}.{keyword}[{index}]: {forbidden} is not allowed in a union")
    if "default" in node and not node.get("x-kubernetes-int-or-string"):
        try:
            jsonschema.Draft4Validator(node).validate(node["default"])
        except jsonschema.ValidationError as error:
            problems.append(f"{path}: default does not validate: {error.message}")
    for name, child in (node.get("properties") or {}).items():
        problems += structural_problems(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += structural_problems(node[key], f"{path}[{key}]")
    return problems


def test_crds_on_disk_are_what_the_models_render() -> None:
    assert crdgen.stale_files(CRDS) == [], "crds/ is stale: run `mlaiops crds`"
    assert sorted(path.name for path in CRDS.glob("*.yaml")) == sorted(crdgen.file_name(info) for info in KINDS)


def test_crds_check_fails_on_a_stale_directory(tmp_path: Path) -> None:
    stale = tmp_path / "crds"
    shutil.copytree(CRDS, stale)
    cmd = ("crds", "--check", "--output", str(stale))
    assert mlaiops(*cmd).returncode == 0
    target = stale / crdgen.file_name(KINDS[0])
    target.write_text(target.read_text().replace("maximum: 1000", "maximum: 999", 1))
    result = mlaiops(*cmd)
    assert result.returncode == 1
    assert "maximum: 999" in result.stdout and "is stale" in result.stderr


@pytest.mark.parametrize("document", _documents(), ids=lambda doc: doc["metadata"]["name"])
def test_crd_validates_against_kubernetes(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("document", _documents(), ids=lambda doc: doc["metadata"]["name"])
def test_crd_schema_is_structural(document: dict[str, Any]) -> None:
    version = document["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert structural_problems(schema) == []
    assert "anyOf" not in schema and "oneOf" not in schema
    assert version["served"] and version["storage"] and version["name"] == "v1alpha1"
    assert "status" in version["subresources"]


def test_crd_names_and_columns() -> None:
    by_kind = {doc["spec"]["names"]["kind"]: doc for doc in _documents()}
    assert {kind: doc["spec"]["names"]["shortNames"] for kind, doc in by_kind.items()} == {
        "ModelDeployment": ["md"],
        "RetrainPolicy": ["rtp"],
        "AnomalyRule": ["ar"],
        "RemediationPlaybook": ["rpb"],
        "Incident": ["inc"],
    }
    for doc in by_kind.values():
        assert doc["spec"]["names"]["categories"] == ["mlaiops"]
        assert doc["spec"]["group"] == "mlaiops.dev" and doc["spec"]["scope"] == "Namespaced"
        columns = [column["name"] for column in doc["spec"]["versions"][0]["additionalPrinterColumns"]]
        assert columns[-1] == "Age"
    scale = by_kind["ModelDeployment"]["spec"]["versions"][0]["subresources"]["scale"]
    assert scale == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }


def test_every_defaulted_field_has_a_crd_default() -> None:
    """Defaults live in the models and therefore in the schema: an empty-ish spec defaults identically."""
    info = KINDS_BY_NAME["ModelDeployment"]
    minimal = {"model": {"storageUri": "file:///models/m.joblib"}}
    spec = copy.deepcopy(minimal)
    apply_defaults(spec, crd_schema("ModelDeployment")["properties"]["spec"])
    assert spec == info.spec.model_validate(minimal).to_dict()
    assert spec["rollout"]["canary"]["steps"] == [{"weight": 25, "pause": "1m"}, {"weight": 50, "pause": "1m"}]


@pytest.mark.parametrize("obj", example_objects(), ids=lambda obj: f"{obj['kind']}/{obj['metadata']['name']}")
def test_example_is_valid_and_round_trips(obj: dict[str, Any]) -> None:
    """Model -> CRD schema -> a valid object -> model gives the same object."""
    schema = crd_schema(obj["kind"])
    jsonschema.Draft4Validator(schema).validate(obj)
    stored = copy.deepcopy(obj)
    apply_defaults(stored, schema)  # what the API server stores
    jsonschema.Draft4Validator(schema).validate(stored)
    model = KINDS_BY_NAME[obj["kind"]].spec.model_validate(stored["spec"])
    assert model.to_dict() == stored["spec"]
    assert type(model).model_validate(model.to_dict()) == model


@pytest.mark.parametrize("info", KINDS, ids=lambda info: info.kind)
def test_a_status_written_by_the_models_validates(info: Any) -> None:
    conditions = [
        {"type": "Ready", "status": "True", "reason": "Reconciled", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    ]
    status = info.status.model_validate({"observedGeneration": 3, "conditions": conditions}).to_dict()
    schema = crd_schema(info.kind)
    jsonschema.Draft4Validator(schema["properties"]["status"]).validate(status)
    assert status["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_the_structural_checker_catches_what_it_claims() -> None:
    bad = {
        "type": "object",
        "properties": {
            "ref": {"$ref": "#/x"},
            "union": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "both": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "baddefault": {"type": "integer", "minimum": 1, "default": 0},
        },
    }
    problems = "\n".join(structural_problems(bad))
    assert ".ref: $ref is not allowed" in problems
    assert ".union: every node needs a type" in problems
    assert ".union.anyOf[0]: type is not allowed in a union" in problems
    assert ".both: properties and additionalProperties are mutually exclusive" in problems
    assert ".baddefault: default does not validate" in problems
