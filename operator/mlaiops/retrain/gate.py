"""The validation gate: does the candidate beat the champion, clear the floor and stay fair?

Like MLflow's ``MetricThreshold`` (threshold, min_absolute_change, min_relative_change,
greater_is_better) plus fairness limits. Every rejection says which number failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlaiops.api.retrainpolicy import Validation


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict with both numbers, for status, Events and lineage."""

    passed: bool
    metric: str
    candidate: float | None
    champion: float | None
    reasons: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.passed:
            versus = f" vs champion {self.champion:.4g}" if self.champion is not None else " (no champion)"
            return f"{self.metric} {self.candidate:.4g}{versus}: passed"
        return "; ".join(self.reasons)


def evaluate_gate(
    validation: Validation,
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    fairness: dict[str, float] | None = None,
) -> GateDecision:
    """Judge a candidate's metrics (and fairness gaps) against the policy's validation settings."""
    name = validation.metric
    value = candidate.get(name)
    baseline = (champion or {}).get(name)
    if value is None:
        return GateDecision(False, name, None, baseline, [f"the trainer did not report {name}"])
    higher = validation.higher_is_better()
    better = "higher" if higher else "lower"
    reasons = []
    if validation.minimum is not None and (value < validation.minimum if higher else value > validation.minimum):
        bound = "minimum" if higher else "maximum"
        reasons.append(f"{name} {value:.4g} does not meet the {bound} {validation.minimum:g}")
    if baseline is not None:
        needed = max(validation.min_improvement.absolute, validation.min_improvement.relative * abs(baseline))
        gain = value - baseline if higher else baseline - value
        if gain < needed - 1e-9 * max(1.0, abs(baseline)):  # 0.84 - 0.80 must count as 0.04
            reasons.append(
                f"{name} {value:.4g} vs champion {baseline:.4g}: improvement {gain:.4g} is less than the required "
                f"{needed:.4g} ({better} is better)"
            )
    gate = validation.fairness
    if gate is not None:
        gaps = fairness or {}
        for key, limit in (
            ("demographic_parity_difference", gate.max_demographic_parity_difference),
            ("equal_opportunity_difference", gate.max_equal_opportunity_difference),
        ):
            if limit is None:
                continue
            if key not in gaps:
                reasons.append(f"the trainer did not report {key} for {gate.sensitive_attribute}")
            elif gaps[key] > limit:
                reasons.append(f"{key} across {gate.sensitive_attribute} is {gaps[key]:.4g}, above the limit {limit:g}")
    return GateDecision(not reasons, name, value, baseline, reasons)
