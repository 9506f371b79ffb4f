"""The validation gate: floors, improvement over the champion, direction, fairness."""

from __future__ import annotations

import pytest

from mlaiops.api.retrainpolicy import Validation
from mlaiops.retrain.gate import evaluate_gate


def gate(**fields: object) -> Validation:
    return Validation.model_validate(fields)


def test_better_candidate_passes() -> None:
    decision = evaluate_gate(gate(metric="roc_auc", minimum=0.8), {"roc_auc": 0.91}, {"roc_auc": 0.88})
    assert decision.passed and decision.candidate == 0.91 and decision.champion == 0.88
    assert decision.summary == "roc_auc 0.91 vs champion 0.88: passed"


def test_without_champion_only_the_floor_counts() -> None:
    assert evaluate_gate(gate(metric="accuracy", minimum=0.9), {"accuracy": 0.95}, None).passed
    decision = evaluate_gate(gate(metric="accuracy", minimum=0.9), {"accuracy": 0.85}, None)
    assert not decision.passed and decision.reasons == ["accuracy 0.85 does not meet the minimum 0.9"]


def test_worse_candidate_is_rejected_with_both_numbers() -> None:
    decision = evaluate_gate(gate(metric="f1"), {"f1": 0.70}, {"f1": 0.75})
    assert not decision.passed
    assert decision.reasons == [
        "f1 0.7 vs champion 0.75: improvement -0.05 is less than the required 0 (higher is better)"
    ]


@pytest.mark.parametrize(
    ("improvement", "candidate", "passed"),
    [
        ({"absolute": 0.01}, 0.805, False),
        ({"absolute": 0.01}, 0.81, True),
        ({"relative": 0.05}, 0.83, False),
        ({"relative": 0.05}, 0.84, True),
    ],
)
def test_min_improvement_absolute_and_relative(improvement: dict, candidate: float, passed: bool) -> None:
    decision = evaluate_gate(
        gate(metric="accuracy", minImprovement=improvement), {"accuracy": candidate}, {"accuracy": 0.8}
    )
    assert decision.passed is passed


def test_lower_is_better_for_errors() -> None:
    assert evaluate_gate(gate(metric="rmse", minimum=2.0), {"rmse": 1.5}, {"rmse": 1.8}).passed
    decision = evaluate_gate(gate(metric="rmse", minimum=2.0), {"rmse": 2.5}, {"rmse": 1.8})
    assert not decision.passed
    assert decision.reasons[0] == "rmse 2.5 does not meet the maximum 2"
    assert "(lower is better)" in decision.reasons[1]
    # greaterIsBetter overrides the metric's own direction.
    assert not evaluate_gate(gate(metric="rmse", greaterIsBetter=True), {"rmse": 1.5}, {"rmse": 1.8}).passed


def test_fairness_limits() -> None:
    validation = gate(
        metric="accuracy", fairness={"sensitiveAttribute": "region", "maxDemographicParityDifference": 0.1}
    )
    fair = {"demographic_parity_difference": 0.05, "equal_opportunity_difference": 0.3}
    assert evaluate_gate(validation, {"accuracy": 0.9}, None, fair).passed
    unfair = {"demographic_parity_difference": 0.25}
    decision = evaluate_gate(validation, {"accuracy": 0.9}, None, unfair)
    assert decision.reasons == ["demographic_parity_difference across region is 0.25, above the limit 0.1"]
    assert not evaluate_gate(validation, {"accuracy": 0.9}, None, {}).passed


def test_missing_metric_is_a_rejection() -> None:
    decision = evaluate_gate(gate(metric="roc_auc"), {"accuracy": 0.9}, {"roc_auc": 0.8})
    assert not decision.passed and decision.reasons == ["the trainer did not report roc_auc"]
