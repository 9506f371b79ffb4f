"""validate() answer by answer: the whole list of messages for one broken object, boundaries included.

Mutation testing (benchmarks/mutation.py) showed that test_validate.py finds each rule's message
among the errors but does not pin the rest: the exact sentence, the boundary of each comparison,
and above all that a rule is reported when pydantic never got to it. The models check the same
cross-field rules, so a webhook rule is only visible on its own when pydantic stopped early: here
an unknown field ``x`` beside the broken fields stops the model's own check of that object (pydantic
runs an object's cross-field validator only when all its fields are valid), and the webhook must
still report the rule. Each case is one object and the complete list of what the webhook says.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlaiops.admission import PromqlUnavailable, review, validate
from mlaiops.api import KINDS_BY_NAME
from mlaiops.api.modeldeployment import SHA256_REQUIRED
from tests.unit.api.helpers import DELETE, edited, example

NS = "fraud-detection"
X = {"x": 1}  # an unknown field: the object's own model validator does not run
SOURCE = {"retrainPolicyRef": {"name": "r"}}
SHA = "a" * 64
RANGE = {"min": 0}
# Label selector requirements: four the API server refuses, two it accepts.
EXPRESSIONS = [
    {"key": "a", "operator": "In"},
    {"key": "b", "operator": "NotIn", "values": []},
    {"key": "c", "operator": "Exists", "values": ["v"]},
    {"key": "d", "operator": "DoesNotExist", "values": ["v"]},
    {"key": "e", "operator": "In", "values": ["v"]},
    {"key": "f", "operator": "Exists"},
]


def _x(**fields: Any) -> dict[str, Any]:
    """An object with these fields and the unknown field ``x``."""
    return {**fields, "x": 1}


def _selector_errors(path: str) -> list[str]:
    return [
        f"{path}.matchExpressions[0].values: must be specified when operator is In",
        f"{path}.matchExpressions[1].values: must be specified when operator is NotIn",
        f"{path}.matchExpressions[2].values: must be empty when operator is Exists",
        f"{path}.matchExpressions[3].values: must be empty when operator is DoesNotExist",
    ]


def _edited(kind: str, edits: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = example(kind)
    for path, value in edits:
        obj = edited(obj, path, value)
    return obj


CASES: list[tuple[str, list[tuple[str, Any]], list[str]]] = [
    # AnomalyRule: dataRange, min strictly below max
    (
        "AnomalyRule",
        [("spec.detector.dataRange", _x(min=1, max=0))],
        ["spec.detector.dataRange.x: unknown field", "spec.detector.dataRange: min (1.0) must be less than max (0.0)"],
    ),
    (
        "AnomalyRule",
        [("spec.detector.dataRange", _x(min=1, max=1))],
        ["spec.detector.dataRange.x: unknown field", "spec.detector.dataRange: min (1.0) must be less than max (1.0)"],
    ),
    ("AnomalyRule", [("spec.detector.dataRange", _x(max=1))], ["spec.detector.dataRange.x: unknown field"]),
    ("AnomalyRule", [("spec.detector.dataRange", _x(min=0))], ["spec.detector.dataRange.x: unknown field"]),
    ("AnomalyRule", [("spec.detector.dataRange", _x(min=0.5, max=1))], ["spec.detector.dataRange.x: unknown field"]),
    # AnomalyRule: parameters per detector type, every one that does not apply
    (
        "AnomalyRule",
        [
            (
                "spec.detector",
                _x(type="zscore", upper=1, lower=0, season="1d", horizon="1h", contamination=0.1, window="1h"),
            )
        ],
        [
            "spec.detector.x: unknown field",
            "spec.detector: upper does not apply to detector type zscore",
            "spec.detector: lower does not apply to detector type zscore",
            "spec.detector: season does not apply to detector type zscore",
            "spec.detector: horizon does not apply to detector type zscore",
            "spec.detector: contamination does not apply to detector type zscore",
        ],
    ),
    (
        "AnomalyRule",
        [("spec.detector", _x(upper=3))],
        ["spec.detector.x: unknown field", "spec.detector: upper does not apply to detector type auto"],
    ),
    ("AnomalyRule", [("spec.detector", _x(season="1d"))], ["spec.detector.x: unknown field"]),
    (
        "AnomalyRule",
        [("spec.detector", _x(type="threshold", upper=1, window="1h"))],
        ["spec.detector.x: unknown field", "spec.detector: window does not apply to detector type threshold"],
    ),
    (
        "AnomalyRule",
        [("spec.detector", _x(type="threshold"))],
        ["spec.detector.x: unknown field", "spec.detector: detector type threshold needs upper, lower or both"],
    ),
    (
        "AnomalyRule",
        [("spec.detector", _x(type="forecast"))],
        ["spec.detector.x: unknown field", "spec.detector: detector type forecast needs upper, lower or both"],
    ),
    ("AnomalyRule", [("spec.detector", _x(type="threshold", lower=1))], ["spec.detector.x: unknown field"]),
    ("AnomalyRule", [("spec.detector", _x(type="forecast", upper=1))], ["spec.detector.x: unknown field"]),
    (
        "AnomalyRule",
        [("spec.detector", _x(type="threshold", upper=1, lower=1))],
        ["spec.detector.x: unknown field", "spec.detector: lower (1.0) must be less than upper (1.0)"],
    ),
    ("AnomalyRule", [("spec.detector", _x(type="threshold", upper=2, lower=1))], ["spec.detector.x: unknown field"]),
    (
        "AnomalyRule",
        [("spec.detector", {"type": "bogus", "upper": 1, "lower": 2})],
        [
            "spec.detector.type: Input should be 'auto', 'threshold', 'zscore', 'mad', 'ewma', 'seasonal', "
            "'isolationForest' or 'forecast'",
            "spec.detector: lower (2.0) must be less than upper (1.0)",
        ],
    ),
    (
        "AnomalyRule",
        [("spec.detector", {"type": 3, "upper": 1})],
        [
            "spec.detector.type: Input should be 'auto', 'threshold', 'zscore', 'mad', 'ewma', 'seasonal', "
            "'isolationForest' or 'forecast'"
        ],
    ),
    # AnomalyRule: exactly one of query and queries; every query checked, names unique
    (
        "AnomalyRule",
        [("spec.query", DELETE), ("spec.x", 1)],
        ["spec.x: unknown field", "spec: set exactly one of query, queries and drift"],
    ),
    (
        "AnomalyRule",
        [("spec.queries", [{"name": "a", "query": "up"}, {"name": "b", "query": "up"}]), ("spec.x", 1)],
        ["spec.x: unknown field", "spec: set exactly one of query, queries and drift"],
    ),
    (
        "AnomalyRule",
        [("spec.queries", "nope")],
        ["spec.queries: Input should be a valid list", "spec: set exactly one of query, queries and drift"],
    ),
    (
        "AnomalyRule",
        [
            ("spec.detector.dataRange", _x(min=1, max=0)),
            ("spec.query", DELETE),
            ("spec.detector.type", "isolationForest"),
            ("spec.detector.window", DELETE),
            (
                "spec.queries",
                [
                    {"name": "a", "query": "sum(x"},
                    {"query": "up"},
                    {"name": "a", "query": 5},
                    7,
                    {"name": "a", "query": "y)"},
                ],
            ),
        ],
        [
            "spec.queries[1].name: required field is missing",
            "spec.queries[2].query: Input should be a valid string",
            "spec.queries[3]: Input should be a valid dictionary or instance of NamedQuery",
            "spec.detector.dataRange.x: unknown field",
            "spec.detector.dataRange: min (1.0) must be less than max (0.0)",
            "spec.queries[2].name: duplicate name 'a' (also spec.queries[0].name)",
            "spec.queries[4].name: duplicate name 'a' (also spec.queries[0].name)",
            "spec.queries[0].query: invalid PromQL: unclosed left parenthesis at position 4",
            "spec.queries[4].query: invalid PromQL: unexpected ')' at position 2",
        ],
    ),
    # ModelDeployment: the model comes from exactly one place
    (
        "ModelDeployment",
        [("spec.model", _x(format="sklearn", storageUri="s3://m/x", source=SOURCE))],
        ["spec.model.x: unknown field", "spec.model: set exactly one of storageUri and source"],
    ),
    (
        "ModelDeployment",
        [("spec.model", _x(format="sklearn"))],
        ["spec.model.x: unknown field", "spec.model: set exactly one of storageUri and source"],
    ),
    ("ModelDeployment", [("spec.model", _x(storageUri="s3://m/x"))], ["spec.model.x: unknown field"]),
    ("ModelDeployment", [("spec.model", _x(storageUri="s3://m/x", sha256=SHA))], ["spec.model.x: unknown field"]),
    (
        "ModelDeployment",
        [("spec.model", _x(source=SOURCE, sha256=SHA))],
        [
            "spec.model.x: unknown field",
            "spec.model: sha256 comes from the RetrainPolicy when source is set; remove it",
        ],
    ),
    (
        "ModelDeployment",
        [("spec.model", "s3://m/x")],
        ["spec.model: Input should be a valid dictionary or instance of ModelSpec"],
    ),
    ("ModelDeployment", [("spec.model", DELETE)], ["spec.model: required field is missing"]),
    # ModelDeployment: canary weights strictly increase (integers only; a bool is no weight)
    (
        "ModelDeployment",
        [("spec.rollout.canary.steps", [{"weight": 50}, _x(weight=50), {"weight": 40}, {"weight": 60}])],
        [
            "spec.rollout.canary.steps[1].x: unknown field",
            "spec.rollout.canary: steps[1].weight (50) must be greater than steps[0].weight (50)",
            "spec.rollout.canary: steps[2].weight (40) must be greater than steps[1].weight (50)",
        ],
    ),
    (
        "ModelDeployment",
        [("spec.rollout.canary.steps", [{"weight": "a"}, {"weight": 10}, {"weight": True}, {"weight": 5}])],
        [
            "spec.rollout.canary.steps[0].weight: Input should be a valid integer, unable to parse string as an integer",
            # weights are compared across steps without one (header and mirror steps), as the model does
            "spec.rollout.canary: steps[3].weight (5) must be greater than steps[1].weight (10)",
        ],
    ),
    # ModelDeployment: autoscaling bounds (minReplicas defaults to 1)
    (
        "ModelDeployment",
        [("spec.autoscaling", _x(minReplicas=3, maxReplicas=2))],
        ["spec.autoscaling.x: unknown field", "spec.autoscaling: minReplicas (3) must not exceed maxReplicas (2)"],
    ),
    (
        "ModelDeployment",
        [("spec.autoscaling", _x(minReplicas=2, maxReplicas=2))],
        ["spec.autoscaling.x: unknown field"],
    ),
    (
        "ModelDeployment",
        [("spec.autoscaling", _x(maxReplicas=0))],
        [
            "spec.autoscaling.maxReplicas: Input should be greater than or equal to 1",
            "spec.autoscaling.x: unknown field",
            "spec.autoscaling: minReplicas (1) must not exceed maxReplicas (0)",
        ],
    ),
    (
        "ModelDeployment",
        [("spec.autoscaling", _x(minReplicas=3))],
        ["spec.autoscaling.maxReplicas: required field is missing", "spec.autoscaling.x: unknown field"],
    ),
    (
        "ModelDeployment",
        [("spec.autoscaling", _x(minReplicas=3.5, maxReplicas=2))],
        [
            "spec.autoscaling.minReplicas: Input should be a valid integer, got a number with a fractional part",
            "spec.autoscaling.x: unknown field",
        ],
    ),
    # ModelDeployment: env names unique, each repeat names the first
    (
        "ModelDeployment",
        [
            ("spec.runtime.env", [{"name": 5}, {"name": "A"}, {"name": "B"}, {"name": "A"}, {"name": "B"}]),
            ("spec.autoscaling", _x(minReplicas=3, maxReplicas=2)),
        ],
        [
            "spec.runtime.env[0].name: Input should be a valid string",
            "spec.autoscaling.x: unknown field",
            "spec.autoscaling: minReplicas (3) must not exceed maxReplicas (2)",
            "spec.runtime.env[3].name: duplicate name 'A' (also spec.runtime.env[1].name)",
            "spec.runtime.env[4].name: duplicate name 'B' (also spec.runtime.env[2].name)",
        ],
    ),
    # ModelDeployment: analysis metric names unique (sorted), ranges, queries
    (
        "ModelDeployment",
        [
            (
                "spec.analysis",
                _x(
                    metrics=[
                        {"name": "b", "query": "up", "thresholdRange": RANGE},
                        {"name": "a", "query": "up", "thresholdRange": RANGE},
                        {"name": "b", "query": "up", "thresholdRange": RANGE},
                        {"name": "a", "query": "up", "thresholdRange": RANGE},
                        {"name": 5, "query": "up", "thresholdRange": RANGE},
                    ]
                ),
            )
        ],
        [
            "spec.analysis.metrics[4].name: Input should be a valid string",
            "spec.analysis.x: unknown field",
            "spec.analysis: metric names must be unique: a, b",
        ],
    ),
    (
        "ModelDeployment",
        [
            (
                "spec.analysis.metrics",
                [
                    {"name": "a", "query": "up", "thresholdRange": X},
                    {"name": "b", "query": "up", "thresholdRange": _x(min=2, max=1)},
                    {"name": "c", "query": "up", "thresholdRange": _x(min=1, max=1)},
                    {"name": "d", "query": "up", "thresholdRange": _x(min=1)},
                    {"name": "e", "query": "up", "thresholdRange": _x(max=1)},
                    {"name": "f", "query": "up", "thresholdRange": "x"},
                    _x(name="g", thresholdRange=RANGE),
                    _x(name="request-duration", thresholdRange=RANGE),
                    {"name": 5, "thresholdRange": RANGE},
                    {"name": "h", "query": "rate(x[{{window}}])", "thresholdRange": RANGE},
                    {"name": "i", "query": 'sum(x{a="{{namespace}}"}[{{interval}}]', "thresholdRange": RANGE},
                ],
            )
        ],
        [
            "spec.analysis.metrics[0].thresholdRange.x: unknown field",
            "spec.analysis.metrics[1].thresholdRange.x: unknown field",
            "spec.analysis.metrics[2].thresholdRange.x: unknown field",
            "spec.analysis.metrics[3].thresholdRange.x: unknown field",
            "spec.analysis.metrics[4].thresholdRange.x: unknown field",
            "spec.analysis.metrics[5].thresholdRange: Input should be a valid dictionary or instance of ThresholdRange",
            "spec.analysis.metrics[6].x: unknown field",
            "spec.analysis.metrics[7].x: unknown field",
            "spec.analysis.metrics[8].name: Input should be a valid string",
            "spec.analysis.metrics[0].thresholdRange: set min, max or both",
            "spec.analysis.metrics[1].thresholdRange: min (2.0) must not exceed max (1.0)",
            "spec.analysis.metrics[6]: query is required unless name is one of request-success-rate, request-duration, "
            "model-accuracy, model-roc-auc, error-rate-vs-stable, latency-vs-stable, accuracy-vs-stable",
            "spec.analysis.metrics[9].query: unknown placeholder {{window}} in the query of metric h",
            "spec.analysis.metrics[10].query: invalid PromQL: unclosed left parenthesis at position 4",
        ],
    ),
    # RemediationPlaybook: what each trigger source needs and refuses
    (
        "RemediationPlaybook",
        [
            (
                "spec.triggers",
                [
                    _x(source="AnomalyRule"),
                    X,
                    _x(rules=[]),
                    _x(rules=[{"name": "a"}]),
                    _x(source="Alertmanager", rules=[{"name": "a"}]),
                    _x(source="Alertmanager", selector={}),
                    _x(source="Alertmanager", matchers=['a="b"']),
                    _x(selector={}),
                    _x(rules=[{"name": "a"}, {"name": 3}, {"name": "a"}]),
                ],
            )
        ],
        [
            "spec.triggers[0].x: unknown field",
            "spec.triggers[1].x: unknown field",
            "spec.triggers[2].x: unknown field",
            "spec.triggers[3].x: unknown field",
            "spec.triggers[4].x: unknown field",
            "spec.triggers[5].x: unknown field",
            "spec.triggers[6].x: unknown field",
            "spec.triggers[7].x: unknown field",
            "spec.triggers[8].rules[1].name: Input should be a valid string",
            "spec.triggers[8].x: unknown field",
            "spec.triggers[0]: an AnomalyRule trigger needs rules, selector or both",
            "spec.triggers[1]: an AnomalyRule trigger needs rules, selector or both",
            "spec.triggers[2]: an AnomalyRule trigger needs rules, selector or both",
            "spec.triggers[4]: rules and selector apply only to source AnomalyRule; use matchers",
            "spec.triggers[5]: rules and selector apply only to source AnomalyRule; use matchers",
            "spec.triggers[8].rules[2].name: duplicate name 'a' (also spec.triggers[8].rules[0].name)",
        ],
    ),
    (
        "RemediationPlaybook",
        [("spec.triggers.0.selector", {"matchExpressions": EXPRESSIONS})],
        _selector_errors("spec.triggers[0].selector"),
    ),
    # RemediationPlaybook: the target, and rollback only on a ModelDeployment (the default kind)
    (
        "RemediationPlaybook",
        [("spec.target.namespace", NS)],
        ["spec.target.namespace: unknown field: the target is always in the playbook's namespace"],
    ),
    (
        "RemediationPlaybook",
        [("spec.target.namespace", "payments"), ("spec.guardrails.cooldown", "soon")],
        [
            "spec.guardrails.cooldown: invalid duration 'soon': use a number followed by a unit (ms, s, m, h, d, w), "
            "e.g. 30s, 5m, 1h30m",
            "spec.target.namespace: a playbook acts only in its own namespace (fraud-detection); "
            "create the playbook in namespace payments instead",
        ],
    ),
    ("RemediationPlaybook", [("spec.target", {"name": "x"})], []),
    (
        "RemediationPlaybook",
        [("spec.target", {"kind": "Deployment", "name": "x"})],
        [
            "spec.actions[1].type: rollback acts only on a ModelDeployment (it restores the last promoted model); "
            "spec.target.kind is Deployment"
        ],
    ),
    ("RemediationPlaybook", [("spec.target", DELETE)], []),
    (
        "RemediationPlaybook",
        [("spec.target", "x")],
        ["spec.target: Input should be a valid dictionary or instance of WorkloadReference"],
    ),
    # RemediationPlaybook: settings match the action type
    (
        "RemediationPlaybook",
        [
            (
                "spec.actions",
                [
                    {
                        "type": "rollback",
                        "scale": {"delta": 1},
                        "deletePod": {},
                        "adjustResources": {},
                        "notify": {"urlSecretRef": {"name": "a", "key": "b"}},
                        "retrain": {"policyRef": {"name": "p"}},
                        "suspendRule": {},
                    }
                ],
            )
        ],
        [
            "spec.actions[0]: scale is set but type is rollback",
            "spec.actions[0]: deletePod is set but type is rollback",
            "spec.actions[0]: adjustResources is set but type is rollback",
            "spec.actions[0]: notify is set but type is rollback",
            "spec.actions[0]: retrain is set but type is rollback",
            "spec.actions[0]: suspendRule is set but type is rollback",
        ],
    ),
    (
        "RemediationPlaybook",
        [
            (
                "spec.actions",
                [_x(type="scale"), _x(type="notify"), _x(type="retrain"), _x(type="deletePod"), _x(type="rollback")],
            )
        ],
        [
            "spec.actions[0].x: unknown field",
            "spec.actions[1].x: unknown field",
            "spec.actions[2].x: unknown field",
            "spec.actions[3].x: unknown field",
            "spec.actions[4].x: unknown field",
            "spec.actions[0]: type scale needs its settings in scale",
            "spec.actions[1]: type notify needs its settings in notify",
            "spec.actions[2]: type retrain needs its settings in retrain",
        ],
    ),
    # RemediationPlaybook: scale takes one of replicas, delta and factor; min <= max (defaults 1 and 10)
    (
        "RemediationPlaybook",
        [
            (
                "spec.actions",
                [
                    _x(type="scale", scale=_x(replicas=1, delta=1)),
                    _x(type="scale", scale=X),
                    _x(type="scale", scale=_x(factor=2, min=5, max=4)),
                    _x(type="scale", scale=_x(delta=1, min=11)),
                    _x(type="scale", scale=_x(delta=1, max=0)),
                    _x(type="scale", scale=_x(delta=1, min=4, max=4)),
                ],
            )
        ],
        [
            "spec.actions[0].scale.x: unknown field",
            "spec.actions[0].x: unknown field",
            "spec.actions[1].scale.x: unknown field",
            "spec.actions[1].x: unknown field",
            "spec.actions[2].scale.x: unknown field",
            "spec.actions[2].x: unknown field",
            "spec.actions[3].scale.x: unknown field",
            "spec.actions[3].x: unknown field",
            "spec.actions[4].scale.max: Input should be greater than or equal to 1",
            "spec.actions[4].scale.x: unknown field",
            "spec.actions[4].x: unknown field",
            "spec.actions[5].scale.x: unknown field",
            "spec.actions[5].x: unknown field",
            "spec.actions[0].scale: set exactly one of replicas, delta and factor",
            "spec.actions[1].scale: set exactly one of replicas, delta and factor",
            "spec.actions[2].scale: min (5) must not exceed max (4)",
            "spec.actions[3].scale: min (11) must not exceed max (10)",
            "spec.actions[4].scale: min (1) must not exceed max (0)",
        ],
    ),
    (
        "RemediationPlaybook",
        [
            (
                "spec.actions",
                [
                    {
                        "type": "deletePod",
                        "deletePod": {"query": "topk(1, x", "selector": {"matchExpressions": EXPRESSIONS}},
                    }
                ],
            )
        ],
        [
            *_selector_errors("spec.actions[0].deletePod.selector"),
            "spec.actions[0].deletePod.query: invalid PromQL: unclosed left parenthesis at position 5",
        ],
    ),
    (
        "RemediationPlaybook",
        [
            ("spec.x", 1),
            (
                "spec.actions",
                [
                    {"name": "b", "type": "rollback"},
                    {"name": "a", "type": "rollback"},
                    {"name": "b", "type": "rollback"},
                    {"name": "a", "type": "rollback"},
                    {"name": "", "type": "rollback"},
                    {"name": "", "type": "rollback"},
                ],
            ),
        ],
        [
            "spec.actions[4].name: String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
            "spec.actions[5].name: String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
            "spec.x: unknown field",
            "spec: action names must be unique: a, b",
        ],
    ),
    # RetrainPolicy: anomaly triggers name rules or a selector
    (
        "RetrainPolicy",
        [("spec.triggers.onAnomaly", X)],
        ["spec.triggers.onAnomaly.x: unknown field", "spec.triggers.onAnomaly: set rules, selector or both"],
    ),
    (
        "RetrainPolicy",
        [("spec.triggers.onAnomaly", _x(rules=[]))],
        ["spec.triggers.onAnomaly.x: unknown field", "spec.triggers.onAnomaly: set rules, selector or both"],
    ),
    ("RetrainPolicy", [("spec.triggers.onAnomaly", _x(selector={}))], ["spec.triggers.onAnomaly.x: unknown field"]),
    (
        "RetrainPolicy",
        [
            (
                "spec.triggers.onAnomaly",
                _x(rules=[{"name": "a"}, {"name": "a"}], selector={"matchExpressions": EXPRESSIONS}),
            )
        ],
        [
            "spec.triggers.onAnomaly.x: unknown field",
            "spec.triggers.onAnomaly.rules[1].name: duplicate name 'a' (also spec.triggers.onAnomaly.rules[0].name)",
            *_selector_errors("spec.triggers.onAnomaly.selector"),
        ],
    ),
    # RetrainPolicy: schedule (time zone defaults to UTC; a cron the pattern refuses gets that message only)
    (
        "RetrainPolicy",
        [("spec.triggers.schedule", {"cron": "61 * * * *", "timeZone": "Mars/Olympus"})],
        [
            "spec.triggers.schedule.timeZone: unknown time zone 'Mars/Olympus'",
            "spec.triggers.schedule.cron: invalid cron expression '61 * * * *'",
        ],
    ),
    ("RetrainPolicy", [("spec.triggers.schedule", {"cron": "0 3 * * *"})], []),
    (
        "RetrainPolicy",
        [("spec.triggers.schedule", {"cron": "not a cron", "timeZone": 5})],
        [
            "spec.triggers.schedule.cron: String should match pattern "
            r"'^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4,5}\S+)$'",
            "spec.triggers.schedule.timeZone: Input should be a valid string",
        ],
    ),
    (
        "RetrainPolicy",
        [("spec.triggers.schedule", {"cron": 5})],
        ["spec.triggers.schedule.cron: Input should be a valid string"],
    ),
    # RetrainPolicy: fairness needs a limit; the sensitive attribute and the features are not the target
    (
        "RetrainPolicy",
        [("spec.validation.fairness", _x(sensitiveAttribute="age"))],
        [
            "spec.validation.fairness.x: unknown field",
            "spec.validation.fairness: set maxDemographicParityDifference, maxEqualOpportunityDifference or both",
        ],
    ),
    (
        "RetrainPolicy",
        [("spec.validation.fairness", _x(sensitiveAttribute="age", maxEqualOpportunityDifference=0.1))],
        ["spec.validation.fairness.x: unknown field"],
    ),
    (
        "RetrainPolicy",
        [("spec.validation.fairness", _x(sensitiveAttribute="age", maxDemographicParityDifference=0.1))],
        ["spec.validation.fairness.x: unknown field"],
    ),
    (
        "RetrainPolicy",
        [("spec.validation.fairness", "x")],
        ["spec.validation.fairness: Input should be a valid dictionary or instance of FairnessGate"],
    ),
    (
        "RetrainPolicy",
        [("spec.validation.fairness", {"sensitiveAttribute": "is_fraud", "maxDemographicParityDifference": 0.1})],
        ["spec.validation.fairness.sensitiveAttribute: must not be the target column 'is_fraud'"],
    ),
    (
        "RetrainPolicy",
        [("spec.dataset.features", ["amount", "is_fraud", 3, "amount", "is_fraud", "region", "amount"])],
        [
            "spec.dataset.features[2]: Input should be a valid string",
            "spec.dataset.features[1]: 'is_fraud' is the target column (spec.dataset.target)",
            "spec.dataset.features[3]: duplicate column 'amount'",
            "spec.dataset.features[4]: 'is_fraud' is the target column (spec.dataset.target)",
            "spec.dataset.features[6]: duplicate column 'amount'",
        ],
    ),
    (
        "RetrainPolicy",
        [
            ("spec.dataset.target", DELETE),
            ("spec.dataset.features", ["a"]),
            ("spec.validation.fairness", {"maxDemographicParityDifference": 0.1}),
        ],
        [
            "spec.dataset.target: required field is missing",
            "spec.validation.fairness.sensitiveAttribute: required field is missing",
        ],
    ),
]


@pytest.mark.parametrize(("kind", "edits", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_webhook_says_exactly_this(kind: str, edits: list[tuple[str, Any]], expected: list[str]) -> None:
    """Every problem once, model errors first, then the webhook's own rules in the order of the spec."""
    assert validate(kind, _edited(kind, edits), namespace=NS) == expected


# --- metadata ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "longest"), [("ModelDeployment", 47), ("AnomalyRule", 51), ("RetrainPolicy", 49)])
def test_a_name_fits_the_owner_label_up_to_its_last_character(kind: str, longest: int) -> None:
    """Children carry mlaiops.dev/owner=<Kind>.<name>: 63 characters at most, so the name gets 63 - len(kind) - 1."""
    assert validate(kind, edited(example(kind), "metadata.name", "a" * longest)) == []
    assert validate(kind, edited(example(kind), "metadata.name", "a" * (longest + 1))) == [
        f"metadata.name: must be at most {longest} characters: children carry the label mlaiops.dev/owner={kind}.<name>"
    ]


def test_only_a_model_deployment_name_must_be_a_dns_label() -> None:
    """A ModelDeployment names its Services; the other kinds only need the owner label to fit."""
    assert validate("ModelDeployment", edited(example("ModelDeployment"), "metadata.name", "1fraud")) == [
        "metadata.name: must start with a letter and contain only lowercase letters, digits and '-': "
        "the operator creates Services named after it"
    ]
    assert validate("AnomalyRule", edited(example("AnomalyRule"), "metadata.name", "1fraud")) == []


def test_metadata_problems_and_model_errors_are_reported_together() -> None:
    obj = edited(edited(example("ModelDeployment"), "metadata.name", "a" * 48), "spec.replicas", -1)
    assert validate("ModelDeployment", obj) == [
        "metadata.name: must be at most 47 characters: children carry the label "
        "mlaiops.dev/owner=ModelDeployment.<name>",
        "spec.replicas: Input should be greater than or equal to 0",
    ]


# --- the namespace, the sha256 setting and the PromQL parser reach the checks ---------------------------


def test_the_playbook_namespace_comes_from_metadata_unless_given() -> None:
    obj = edited(example("RemediationPlaybook"), "spec.target.namespace", NS)
    same = ["spec.target.namespace: unknown field: the target is always in the playbook's namespace"]
    assert validate("RemediationPlaybook", obj) == same  # metadata.namespace is fraud-detection
    assert review("RemediationPlaybook", obj).errors == same
    assert validate("RemediationPlaybook", obj, namespace="payments") == [
        "spec.target.namespace: a playbook acts only in its own namespace (payments); "
        "create the playbook in namespace fraud-detection instead"
    ]


def test_sha256_is_required_only_when_asked_and_only_for_storage_uri() -> None:
    uri = edited(example("ModelDeployment"), "spec.model", {"storageUri": "s3://m/x"})
    pinned = edited(uri, "spec.model.sha256", SHA)
    assert validate("ModelDeployment", uri) == []
    assert review("ModelDeployment", uri).errors == []
    assert validate("ModelDeployment", uri, require_sha256=True) == [f"spec.model.sha256: {SHA256_REQUIRED}"]
    assert review("ModelDeployment", uri, require_sha256=True).errors == [f"spec.model.sha256: {SHA256_REQUIRED}"]
    assert validate("ModelDeployment", pinned, require_sha256=True) == []
    assert validate("ModelDeployment", example("ModelDeployment"), require_sha256=True) == []  # source: no sha256


class Parser:
    """A PromQL checker double answering like Prometheus: a message per query, or down."""

    def __init__(self, answers: dict[str, str] | None = None, down: bool = False) -> None:
        self.answers, self.down, self.asked = answers or {}, down, []

    def check(self, query: str) -> str | None:
        self.asked.append(query)
        if self.down:
            raise PromqlUnavailable("Prometheus at http://127.0.0.1:1 is unreachable: refused")
        return self.answers.get(query)


def _playbook_with_queries(*queries: str) -> dict[str, Any]:
    actions = [{"name": f"d{i}", "type": "deletePod", "deletePod": {"query": q}} for i, q in enumerate(queries)]
    return edited(edited(example("RemediationPlaybook"), "spec.actions", actions), "spec.target", DELETE)


def test_every_query_is_checked_locally_then_by_the_parser() -> None:
    parser = Parser({"rat(x)": '1:1: parse error: unknown function with name "rat"', "b": "1:1: bad"})
    obj = _playbook_with_queries("up", "sum(x", "rat(x)", "b)", "b")
    assert validate("RemediationPlaybook", obj, promql=parser) == [
        "spec.actions[1].deletePod.query: invalid PromQL: unclosed left parenthesis at position 4",
        'spec.actions[2].deletePod.query: invalid PromQL: 1:1: parse error: unknown function with name "rat"',
        "spec.actions[3].deletePod.query: invalid PromQL: unexpected ')' at position 2",
        "spec.actions[4].deletePod.query: invalid PromQL: 1:1: bad",
    ]
    assert parser.asked == ["up", "rat(x)", "b"]  # only what passed the local check
    assert validate("RemediationPlaybook", obj) == [
        "spec.actions[1].deletePod.query: invalid PromQL: unclosed left parenthesis at position 4",
        "spec.actions[3].deletePod.query: invalid PromQL: unexpected ')' at position 2",
    ]


def test_a_prometheus_that_is_down_is_asked_once_and_the_local_check_goes_on() -> None:
    parser = Parser(down=True)
    result = review("RemediationPlaybook", _playbook_with_queries("up", "rate(x[5m])", "sum(x"), promql=parser)
    assert result.errors == ["spec.actions[2].deletePod.query: invalid PromQL: unclosed left parenthesis at position 4"]
    assert result.warnings == [
        "spec: PromQL was only checked for balanced brackets and quotes: "
        "Prometheus at http://127.0.0.1:1 is unreachable: refused"
    ]
    assert parser.asked == ["up"]
    assert not result.allowed
    assert review("RemediationPlaybook", _playbook_with_queries("up"), promql=Parser()).warnings == []


# --- a model that raises instead of reporting ------------------------------------------------------------


class _Broken:
    """A spec model with a bug: it raises ``error`` instead of a ValidationError."""

    error: Exception = OverflowError("cannot convert")

    @classmethod
    def model_validate(cls, _spec: Any) -> None:
        raise cls.error


@pytest.mark.parametrize("error", [OverflowError("cannot convert"), ValueError("bad"), TypeError("worse")])
def test_a_model_bug_never_crashes_admission(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Overflowing durations are named wherever they are; anything else says the spec cannot be parsed."""
    monkeypatch.setattr(_Broken, "error", error)
    monkeypatch.setitem(
        KINDS_BY_NAME, "RetrainPolicy", dataclasses.replace(KINDS_BY_NAME["RetrainPolicy"], spec=_Broken)
    )
    huge = "9" * 30 + "w"
    obj = edited(example("RetrainPolicy"), "spec.triggers.minInterval", huge)
    obj = edited(obj, "spec.extra", [{"a": "1s"}, 5, "words", {"b": [huge]}])
    obj = edited(obj, "metadata.name", "a" * 50)
    assert validate("RetrainPolicy", obj) == [
        "metadata.name: must be at most 49 characters: children carry the label mlaiops.dev/owner=RetrainPolicy.<name>",
        f"spec.triggers.minInterval: duration '{huge}' is too long",
        f"spec.extra[3].b[0]: duration '{huge}' is too long",
    ]
    assert validate("RetrainPolicy", example("RetrainPolicy")) == [f"spec: cannot be parsed: {error}"]
