"""The gate at its exact boundaries, and its verdicts spelled out whole.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests did not pin: a floor met exactly,
a fairness gap equal to its limit, the float tolerance of the improvement check, the second fairness
limit when the first is unset, and the whole verdict when the trainer reported nothing.
"""

from __future__ import annotations

from mlaiops.api.retrainpolicy import Validation
from mlaiops.retrain.gate import GateDecision, evaluate_gate


def gate(**fields: object) -> Validation:
    return Validation.model_validate(fields)


def test_a_missing_metric_is_a_failed_verdict_that_keeps_the_champion() -> None:
    """No candidate metric: passed is False, the metric is named, the champion's number is kept for status."""
    decision = evaluate_gate(gate(metric="f1"), {"accuracy": 0.9}, {"f1": 0.75})
    assert decision == GateDecision(False, "f1", None, 0.75, ["the trainer did not report f1"])


def test_a_floor_met_exactly_passes_in_both_directions() -> None:
    """minimum is inclusive: accuracy equal to the minimum passes, and so does rmse equal to its maximum."""
    assert evaluate_gate(gate(metric="accuracy", minimum=0.9), {"accuracy": 0.9}, None).passed
    assert evaluate_gate(gate(metric="rmse", minimum=2.0), {"rmse": 2.0}, None).passed
    rejected = evaluate_gate(gate(metric="rmse", minimum=2.0), {"rmse": 2.5}, None)
    assert rejected.reasons == ["rmse 2.5 does not meet the maximum 2"]


def test_the_improvement_tolerance_is_one_billionth_of_the_champion_at_least_one() -> None:
    """Float noise below 1e-9 x max(1, |champion|) does not fail a candidate; more than that does."""
    # champion 1000 (rmse, lower is better): tolerance 1e-6, so 5e-7 short of the required 10 passes.
    decision = evaluate_gate(
        gate(metric="rmse", minImprovement={"absolute": 10}), {"rmse": 990.0 + 5e-7}, {"rmse": 1000.0}
    )
    assert decision.passed
    # champion 0 (accuracy): tolerance 1e-9, so 1.5e-9 short of the required 0.25 fails.
    decision = evaluate_gate(
        gate(metric="accuracy", minImprovement={"absolute": 0.25}), {"accuracy": 0.25 - 1.5e-9}, {"accuracy": 0.0}
    )
    assert not decision.passed


def test_a_fairness_gap_equal_to_its_limit_passes() -> None:
    """maxEqualOpportunityDifference is inclusive, and is checked even when the parity limit is unset."""
    fairness = {"sensitiveAttribute": "sex", "maxEqualOpportunityDifference": 0.1}
    validation = gate(metric="accuracy", fairness=fairness)
    assert evaluate_gate(validation, {"accuracy": 0.9}, None, {"equal_opportunity_difference": 0.1}).passed
    over = evaluate_gate(validation, {"accuracy": 0.9}, None, {"equal_opportunity_difference": 0.2})
    assert over.reasons == ["equal_opportunity_difference across sex is 0.2, above the limit 0.1"]
    missing = evaluate_gate(validation, {"accuracy": 0.9}, None, {"demographic_parity_difference": 0.0})
    assert missing.reasons == ["the trainer did not report equal_opportunity_difference for sex"]
