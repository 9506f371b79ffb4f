"""Invalid specs are rejected by the models with a message that names the field path.

Every case starts from a valid example and breaks one thing, so each failure is caused by the
one edit it describes.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlaiops.api import KINDS_BY_NAME
from mlaiops.api.errors import field_errors
from tests.unit.api.helpers import DELETE, edited, example

CASES: list[tuple[str, str, Any, str, str]] = [
    # kind, dotted path under spec, new value, field path the error must name, text it must contain
    ("ModelDeployment", "replicas", -1, "spec.replicas", "greater than or equal to 0"),
    ("ModelDeployment", "replicas", 1001, "spec.replicas", "less than or equal to 1000"),
    ("ModelDeployment", "model.format", "pickle", "spec.model.format", "'sklearn'"),
    (
        "ModelDeployment",
        "model.storageUri",
        "s3://models/fraud.joblib",
        "spec.model",
        "exactly one of storageUri and source",
    ),
    ("ModelDeployment", "model.storageUri", "ftp://x/model", "spec.model.storageUri", "pattern"),
    ("ModelDeployment", "model.source", DELETE, "spec.model", "exactly one of storageUri and source"),
    ("ModelDeployment", "rollout.canary.steps.0.weight", 101, "spec.rollout.canary.steps[0].weight", "100"),
    ("ModelDeployment", "rollout.canary.steps.0.weight", 0, "spec.rollout.canary.steps[0].weight", "1"),
    (
        "ModelDeployment",
        "rollout.canary.steps.1.weight",
        25,
        "spec.rollout.canary",
        "steps[1].weight (25) must be greater",
    ),
    (
        "ModelDeployment",
        "rollout.canary.steps.0.pause",
        "5 minutes",
        "spec.rollout.canary.steps[0].pause",
        "invalid duration",
    ),
    ("ModelDeployment", "rollout.strategy", "BlueGreen", "spec.rollout.strategy", "'Canary'"),
    ("ModelDeployment", "analysis.interval", "-30s", "spec.analysis.interval", "invalid duration"),
    ("ModelDeployment", "analysis.failureLimit", -2, "spec.analysis.failureLimit", "greater than or equal to 0"),
    (
        "ModelDeployment",
        "analysis.metrics.1.thresholdRange",
        {},
        "spec.analysis.metrics[1].thresholdRange",
        "set min, max or both",
    ),
    (
        "ModelDeployment",
        "analysis.metrics.1.thresholdRange",
        {"min": 2, "max": 1},
        "spec.analysis.metrics[1].thresholdRange",
        "must not exceed",
    ),
    ("ModelDeployment", "analysis.metrics.1.query", DELETE, "spec.analysis.metrics[1]", "query is required"),
    ("ModelDeployment", "analysis.metrics.1.onNoData", "ignore", "spec.analysis.metrics[1].onNoData", "'inconclusive'"),
    ("ModelDeployment", "runtime.port", 70000, "spec.runtime.port", "65535"),
    (
        "ModelDeployment",
        "runtime.resources.limits.memory",
        "lots",
        "spec.runtime.resources.limits.memory",
        "invalid quantity",
    ),
    ("ModelDeployment", "runtime.gpu", True, "spec.runtime.gpu", "unknown field"),
    ("ModelDeployment", "model", DELETE, "spec.model", "required field is missing"),
    ("RetrainPolicy", "triggers.schedule.cron", "every day", "spec.triggers.schedule.cron", "pattern"),
    ("RetrainPolicy", "trainer.estimator", "SVC", "spec.trainer.estimator", "'LogisticRegression'"),
    ("RetrainPolicy", "trainer.testSize", 1.5, "spec.trainer.testSize", "less than 1"),
    ("RetrainPolicy", "validation.metric", "precision", "spec.validation.metric", "'accuracy'"),
    ("RetrainPolicy", "dataset", DELETE, "spec.dataset", "required field is missing"),
    ("RetrainPolicy", "triggers.onAnomaly.rules", [], "spec.triggers.onAnomaly", "set rules, selector or both"),
    (
        "RetrainPolicy",
        "validation.fairness.maxDemographicParityDifference",
        2,
        "spec.validation.fairness.maxDemographicParityDifference",
        "less than or equal to 1",
    ),
    ("AnomalyRule", "detector.type", "prophet", "spec.detector.type", "'auto'"),
    ("AnomalyRule", "detector.direction", "sideways", "spec.detector.direction", "'both'"),
    ("AnomalyRule", "detector.season", "1d", "spec.detector", "season does not apply to detector type mad"),
    (
        "AnomalyRule",
        "detector.minDeviation.relative",
        -0.1,
        "spec.detector.minDeviation.relative",
        "greater than or equal to 0",
    ),
    ("AnomalyRule", "detector.dataRange", {"min": 1, "max": 0}, "spec.detector.dataRange", "must be less than"),
    ("AnomalyRule", "for", "10", "spec.for", "invalid duration"),
    ("AnomalyRule", "query", DELETE, "spec", "exactly one of query, queries and drift"),
    ("AnomalyRule", "target.kind", "Pod", "spec.target.kind", "'ModelDeployment'"),
    ("AnomalyRule", "severity", "page", "spec.severity", "'critical'"),
    ("RemediationPlaybook", "actions", [], "spec.actions", "at least 1 item"),
    ("RemediationPlaybook", "actions.0.type", "reboot", "spec.actions[0].type", "'scale'"),
    ("RemediationPlaybook", "actions.0.scale", DELETE, "spec.actions[0]", "type scale needs its settings in scale"),
    (
        "RemediationPlaybook",
        "actions.0.scale",
        {"delta": 1, "replicas": 3},
        "spec.actions[0].scale",
        "exactly one of replicas, delta and factor",
    ),
    ("RemediationPlaybook", "actions.1.scale", {"delta": 1}, "spec.actions[1]", "scale is set but type is rollback"),
    ("RemediationPlaybook", "actions.0.scale.min", 9, "spec.actions[0].scale", "min (9) must not exceed max (8)"),
    ("RemediationPlaybook", "triggers.1.matchers.0", "alertname", "spec.triggers[1].matchers[0]", "pattern"),
    ("RemediationPlaybook", "triggers.0.severity", "fatal", "spec.triggers[0].severity", "'warning'"),
    ("RemediationPlaybook", "guardrails.minHealthy", "half", "spec.guardrails.minHealthy", "percentage"),
    ("RemediationPlaybook", "guardrails.cooldown", "10 min", "spec.guardrails.cooldown", "invalid duration"),
    ("RemediationPlaybook", "actions.2.name", "scale-out", "spec", "action names must be unique: scale-out"),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize(("kind", "path", "value", "field", "text"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_invalid_spec_names_the_field(kind: str, path: str, value: Any, field: str, text: str) -> None:
    base = example(kind)
    model = KINDS_BY_NAME[kind].spec
    model.model_validate(base["spec"])  # the starting point is valid
    broken = edited(base, f"spec.{path}", value)
    with pytest.raises(ValidationError) as caught:
        model.model_validate(broken["spec"])
    problems = field_errors(caught.value)
    assert any(found == field and text in message for found, message in problems), problems
