"""Detector fields a type cannot honour are refused, naming the field, by the webhook and the controller."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlaiops.admission.validate import validate
from mlaiops.api.anomalyrule import SENSITIVE_TYPES, AnomalyRuleSpec
from mlaiops.api.errors import field_errors
from mlaiops.controllers.common import InvalidSpec, parse_spec
from tests.unit.api.helpers import example

BOUNDS: dict[str, dict[str, Any]] = {
    "threshold": {"upper": 90},
    "forecast": {"upper": 90, "horizon": "30m"},
    "isolationForest": {},
}


def rule(detector: dict[str, Any]) -> dict[str, Any]:
    return {"query": "up", "detector": detector}


@pytest.mark.parametrize("kind", sorted(BOUNDS))
def test_sensitivity_is_refused_where_no_band_uses_it(kind: str) -> None:
    spec = rule({"type": kind, "sensitivity": 2, **BOUNDS[kind]})
    expected = f"spec.detector.sensitivity: not used by detector type {kind}"
    with pytest.raises(ValidationError) as caught:
        AnomalyRuleSpec.model_validate(spec)
    assert [f"{path}: {message}" for path, message in field_errors(caught.value)] == [expected]
    with pytest.raises(InvalidSpec, match=expected):
        parse_spec(AnomalyRuleSpec, spec)
    obj = example("AnomalyRule")
    obj["spec"] = spec
    assert validate("AnomalyRule", obj) == [expected]


@pytest.mark.parametrize("kind", sorted(BOUNDS))
def test_those_types_are_admitted_without_it(kind: str) -> None:
    assert AnomalyRuleSpec.model_validate(rule({"type": kind, **BOUNDS[kind]})).detector.sensitivity is None


@pytest.mark.parametrize("kind", SENSITIVE_TYPES)
def test_banded_types_accept_it(kind: str) -> None:
    assert AnomalyRuleSpec.model_validate(rule({"type": kind, "sensitivity": 2})).detector.sensitivity == 2
