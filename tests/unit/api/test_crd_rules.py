"""The CEL rules in the generated CRDs: they compile, name only functions Kubernetes provides, point their
fieldPath at real fields, carry a static message, and pass every example."""

from __future__ import annotations

from typing import Any

import pytest
from mlaiops_sandbox.apiserver import celrules, schema

from tests.unit.api.helpers import crd_documents, crd_schema, example_objects


def _documents() -> list[dict[str, Any]]:
    return crd_documents()


def _rules(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = list(node.get("x-kubernetes-validations", []))
        return found + [rule for value in node.values() for rule in _rules(value)]
    if isinstance(node, list):
        return [rule for value in node for rule in _rules(value)]
    return []


@pytest.mark.parametrize("document", _documents(), ids=lambda doc: doc["metadata"]["name"])
def test_every_rule_compiles_as_the_api_server_requires(document: dict[str, Any]) -> None:
    assert celrules.crd_problems(document) == []


def test_the_crds_carry_rules_and_each_has_a_message() -> None:
    rules = [rule for document in _documents() for rule in _rules(document)]
    assert len(rules) >= 40
    assert all(rule.get("message") for rule in rules), [rule for rule in rules if not rule.get("message")]


@pytest.mark.parametrize("obj", example_objects(), ids=lambda obj: f"{obj['kind']}/{obj['metadata']['name']}")
def test_every_example_passes_the_rules(obj: dict[str, Any]) -> None:
    root = crd_schema(obj["kind"])
    schema.apply_defaults(obj, root)
    assert schema.validate(obj, root) == []
    assert celrules.validate(obj, root) == ([], [])
