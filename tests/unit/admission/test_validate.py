"""validate(): what the webhook refuses beyond the CRD schema, one field-named message per problem.

Each case starts from a valid example and breaks what it describes; the expected message must be
among the problems and every problem must name a field under spec or metadata.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlaiops.admission import PromqlUnavailable, review, validate
from tests.unit.api.helpers import DELETE, edited, example, example_objects


def _valid(kind: str) -> dict[str, Any]:
    obj = example(kind)
    assert validate(kind, obj) == [], "the example itself must be admitted"
    return obj


def _errors(kind: str, *edits: tuple[str, Any]) -> list[str]:
    obj = _valid(kind)
    for path, value in edits:
        obj = edited(obj, path, value)
    errors = validate(kind, obj, namespace="fraud-detection")
    assert all(line.startswith(("spec", "metadata")) for line in errors), errors
    assert len(errors) == len(set(errors)), f"duplicate messages: {errors}"
    return errors


@pytest.mark.parametrize("obj", example_objects(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_example_is_admitted(obj: dict[str, Any]) -> None:
    assert validate(obj["kind"], obj) == []


INVALID: list[tuple[str, list[tuple[str, Any]], str]] = [
    # ModelDeployment
    ("ModelDeployment", [("spec.rollout.canary.steps.1.weight", 25)], "spec.rollout.canary: steps[1].weight (25)"),
    (
        "ModelDeployment",
        [("spec.rollout.canary.steps", [{"weight": 50}, {"weight": 40}, {"weight": 30}])],
        "spec.rollout.canary: steps[2].weight (30) must be greater than steps[1].weight (40)",
    ),
    (
        "ModelDeployment",
        [("spec.model.storageUri", "s3://m/x")],
        "spec.model: set exactly one of storageUri and source",
    ),
    ("ModelDeployment", [("spec.model.sha256", "a" * 64)], "spec.model: sha256 comes from the RetrainPolicy"),
    (
        "ModelDeployment",
        [("spec.autoscaling", {"minReplicas": 4, "maxReplicas": 2})],
        "spec.autoscaling: minReplicas (4) must not exceed maxReplicas (2)",
    ),
    (
        "ModelDeployment",
        [("spec.analysis.metrics.1.query", "sum(rate(x[5m])")],
        "spec.analysis.metrics[1].query: invalid PromQL: unclosed left parenthesis",
    ),
    (
        "ModelDeployment",
        [("spec.analysis.metrics.1.query", 'up{job="a}')],
        "spec.analysis.metrics[1].query: invalid PromQL: unterminated quoted string",
    ),
    (
        "ModelDeployment",
        [("spec.analysis.metrics.1.query", "rate(x[{{window}}])")],
        "spec.analysis.metrics[1].query: unknown placeholder {{window}}",
    ),
    ("ModelDeployment", [("spec.analysis.metrics.1.query", "x]")], "invalid PromQL: unexpected ']'"),
    ("ModelDeployment", [("spec.analysis.metrics.1.name", "request-success-rate")], "metric names must be unique"),
    ("ModelDeployment", [("spec.analysis.metrics.1.query", DELETE)], "spec.analysis.metrics[1]: query is required"),
    (
        "ModelDeployment",
        [("spec.analysis.metrics.1.thresholdRange", {"min": 2, "max": 1})],
        "spec.analysis.metrics[1].thresholdRange: min (2.0) must not exceed max (1.0)",
    ),
    (
        "ModelDeployment",
        [("spec.runtime.env", [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])],
        "spec.runtime.env[1].name: duplicate name 'A'",
    ),
    ("ModelDeployment", [("metadata.name", "x" * 48)], "metadata.name: must be at most 47 characters"),
    ("ModelDeployment", [("metadata.name", "1fraud")], "metadata.name: must start with a letter"),
    # AnomalyRule
    ("AnomalyRule", [("spec.query", "sum(rate(x[5m])")], "spec.query: invalid PromQL: unclosed left parenthesis"),
    (
        "AnomalyRule",
        [("spec.queries", [{"name": "a", "query": "up"}, {"name": "b", "query": "up"}]), ("spec.query", DELETE)],
        "spec: queries (multivariate) needs detector.type isolationForest",
    ),
    (
        "AnomalyRule",
        [("spec.queries", [{"name": "a", "query": "up"}, {"name": "a", "query": "up"}]), ("spec.query", DELETE)],
        "spec.queries[1].name: duplicate name 'a'",
    ),
    ("AnomalyRule", [("spec.query", DELETE)], "spec: set exactly one of query, queries and drift"),
    ("AnomalyRule", [("spec.detector.upper", 3.0)], "spec.detector: upper does not apply to detector type mad"),
    ("AnomalyRule", [("spec.detector.dataRange", {"min": 1, "max": 0})], "spec.detector.dataRange: min (1.0)"),
    (
        "AnomalyRule",
        [("spec.detector", {"type": "threshold"})],
        "spec.detector: detector type threshold needs upper, lower or both",
    ),
    # RemediationPlaybook
    (
        "RemediationPlaybook",
        [("spec.actions.0.scale", {"delta": 2, "replicas": 3})],
        "spec.actions[0].scale: set exactly one of replicas, delta and factor",
    ),
    (
        "RemediationPlaybook",
        [("spec.actions.0.scale", {"delta": 2, "min": 9, "max": 3})],
        "spec.actions[0].scale: min (9) must not exceed max (3)",
    ),
    ("RemediationPlaybook", [("spec.actions.1.name", "scale-out")], "spec: action names must be unique: scale-out"),
    ("RemediationPlaybook", [("spec.actions.2.notify", DELETE)], "spec.actions[2]: type notify needs its settings"),
    (
        "RemediationPlaybook",
        [("spec.actions.1.scale", {"delta": 1})],
        "spec.actions[1]: scale is set but type is rollback",
    ),
    (
        "RemediationPlaybook",
        [("spec.target.namespace", "payments")],
        "spec.target.namespace: a playbook acts only in its own namespace (fraud-detection)",
    ),
    (
        "RemediationPlaybook",
        [("spec.target.kind", "Deployment")],
        "spec.actions[1].type: rollback acts only on a ModelDeployment",
    ),
    (
        "RemediationPlaybook",
        [("spec.triggers.0.selector", {"matchExpressions": [{"key": "a", "operator": "In"}]})],
        "spec.triggers[0].selector.matchExpressions[0].values: must be specified when operator is In",
    ),
    (
        "RemediationPlaybook",
        [("spec.triggers.1.rules", [{"name": "x"}])],
        "spec.triggers[1]: rules and selector apply only to source AnomalyRule",
    ),
    (
        "RemediationPlaybook",
        [("spec.actions.0", {"type": "deletePod", "deletePod": {"query": "topk(1, x"}})],
        "spec.actions[0].deletePod.query: invalid PromQL",
    ),
    # RetrainPolicy
    ("RetrainPolicy", [("spec.triggers.schedule.cron", "61 * * * *")], "spec.triggers.schedule.cron: invalid cron"),
    ("RetrainPolicy", [("spec.triggers.schedule.cron", "* * 32 * *")], "spec.triggers.schedule.cron: invalid cron"),
    (
        "RetrainPolicy",
        [("spec.triggers.schedule.timeZone", "Mars/Olympus")],
        "spec.triggers.schedule.timeZone: unknown time zone 'Mars/Olympus'",
    ),
    ("RetrainPolicy", [("spec.triggers.onAnomaly.rules", [])], "spec.triggers.onAnomaly: set rules, selector or both"),
    (
        "RetrainPolicy",
        [("spec.triggers.onAnomaly.rules", [{"name": "a"}, {"name": "a"}])],
        "spec.triggers.onAnomaly.rules[1].name: duplicate name 'a'",
    ),
    (
        "RetrainPolicy",
        [("spec.validation.fairness", {"sensitiveAttribute": "age"})],
        "spec.validation.fairness: set maxDemographicParityDifference",
    ),
    (
        "RetrainPolicy",
        [("spec.validation.fairness", {"sensitiveAttribute": "is_fraud", "maxDemographicParityDifference": 0.1})],
        "spec.validation.fairness.sensitiveAttribute: must not be the target column 'is_fraud'",
    ),
    (
        "RetrainPolicy",
        [("spec.dataset.features", ["amount", "is_fraud", "amount"])],
        "spec.dataset.features[1]: 'is_fraud' is the target column",
    ),
    ("RetrainPolicy", [("spec.dataset.features", ["a", "a"])], "spec.dataset.features[1]: duplicate column 'a'"),
]


@pytest.mark.parametrize(("kind", "edits", "expected"), INVALID, ids=[case[2][:60] for case in INVALID])
def test_invalid_specs_are_refused_naming_the_field(kind: str, edits: list[tuple[str, Any]], expected: str) -> None:
    errors = _errors(kind, *edits)
    assert any(expected in line for line in errors), errors


def test_all_problems_are_reported_not_just_the_first() -> None:
    """pydantic stops at the first failing validator of a model; the webhook reports every problem."""
    errors = _errors(
        "ModelDeployment",
        ("spec.rollout.canary.steps", [{"weight": 50}, {"weight": 40}, {"weight": 30}]),
        ("spec.autoscaling", {"minReplicas": 5, "maxReplicas": 2}),
        ("spec.analysis.metrics.1.query", "sum(rate(x[5m])"),
        ("spec.replicas", -1),
    )
    assert errors == [
        "spec.replicas: Input should be greater than or equal to 0",
        "spec.autoscaling: minReplicas (5) must not exceed maxReplicas (2)",
        "spec.rollout.canary: steps[1].weight (40) must be greater than steps[0].weight (50)",
        "spec.rollout.canary: steps[2].weight (30) must be greater than steps[1].weight (40)",
        "spec.analysis.metrics[1].query: invalid PromQL: unclosed left parenthesis at position 4",
    ]


def test_several_rules_of_one_validator_are_all_reported() -> None:
    errors = _errors(
        "RemediationPlaybook",
        ("spec.actions.0.scale", {"delta": 1, "factor": 2.0, "min": 9, "max": 3}),
        ("spec.actions.1.notify", {"urlSecretRef": {"name": "s", "key": "k"}}),
        ("spec.actions.1.scale", {"delta": 1}),
    )
    for expected in (
        "spec.actions[0].scale: set exactly one of replicas, delta and factor",
        "spec.actions[0].scale: min (9) must not exceed max (3)",
        "spec.actions[1]: scale is set but type is rollback",
        "spec.actions[1]: notify is set but type is rollback",
    ):
        assert expected in errors


def test_a_parent_rule_is_reported_even_when_a_child_fails() -> None:
    """AnomalyRuleSpec's own rule does not run in pydantic when detector is invalid; here it still does."""
    errors = _errors(
        "AnomalyRule",
        ("spec.detector", {"type": "zscore", "upper": 1.0}),
        ("spec.query", DELETE),
    )
    assert "spec.detector: upper does not apply to detector type zscore" in errors
    assert "spec: set exactly one of query, queries and drift" in errors


def test_unchanged_spec_on_update_is_always_admitted() -> None:
    """Metadata-only writes (kopf's finalizers and annotations, deletion) never hit a spec rule."""
    old = edited(example("RetrainPolicy"), "spec.triggers.schedule.cron", "61 * * * *")
    new = edited(old, "metadata.labels", {"x": "y"})
    assert validate("RetrainPolicy", new) != []
    assert validate("RetrainPolicy", new, old=old) == []
    changed = edited(new, "spec.suspend", True)
    assert validate("RetrainPolicy", changed, old=old) != []


def test_templated_queries_are_checked_after_substitution() -> None:
    obj = _valid("ModelDeployment")
    good = 'sum(rate(x{version="{{version}}", track="{{ track }}"}[{{interval}}])) / {{name}}_total'
    assert validate("ModelDeployment", edited(obj, "spec.analysis.metrics.1.query", good)) == []


def test_not_an_object_and_missing_spec() -> None:
    assert validate("AnomalyRule", []) == ["metadata: the object must be a JSON object, not list"]
    assert validate("AnomalyRule", {"metadata": {"name": "a"}}) == ["spec: required field is missing"]
    assert validate("AnomalyRule", {"metadata": {"name": "a"}, "spec": 3}) == ["spec: must be an object"]
    with pytest.raises(ValueError, match="not an mlaiops kind"):
        validate("Pod", {})


class Parser:
    """A PromQL checker double with Prometheus's answers (the real parser is tested in test_promql.py)."""

    def __init__(self, answer: str | None = None, down: bool = False) -> None:
        self.answer, self.down, self.asked = answer, down, []

    def check(self, query: str) -> str | None:
        self.asked.append(query)
        if self.down:
            raise PromqlUnavailable("Prometheus at http://127.0.0.1:1 is unreachable: refused")
        return self.answer


def test_the_parser_is_asked_with_rendered_queries_and_its_error_is_reported() -> None:
    parser = Parser('1:5: parse error: unknown function with name "rat"')
    result = review("ModelDeployment", _valid("ModelDeployment"), promql=parser)
    assert result.errors == [
        'spec.analysis.metrics[1].query: invalid PromQL: 1:5: parse error: unknown function with name "rat"'
    ]
    assert len(parser.asked) == 1 and "{{" not in parser.asked[0] and 'track="canary"' in parser.asked[0]


def test_an_unreachable_prometheus_admits_with_a_warning() -> None:
    parser = Parser(down=True)
    result = review("AnomalyRule", _valid("AnomalyRule"), promql=parser)
    assert result.allowed
    assert len(result.warnings) == 1 and result.warnings[0].startswith("spec: PromQL was only checked")
    broken = edited(_valid("AnomalyRule"), "spec.query", "sum(x")
    assert review("AnomalyRule", broken, promql=parser).errors == [
        "spec.query: invalid PromQL: unclosed left parenthesis at position 4"
    ]


def test_a_drift_rule_has_its_generated_query_checked_by_prometheus() -> None:
    rule = {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": {"name": "drift", "namespace": "fraud"},
        "spec": {"drift": {"model": "fraud", "selector": 'pod=~"("'}},
    }
    parser = Parser("1:60: parse error: error parsing regexp: missing closing )")
    result = review("AnomalyRule", rule, promql=parser)
    assert result.errors == [
        "spec.drift.selector: invalid PromQL: 1:60: parse error: error parsing regexp: missing closing )"
    ]
    assert parser.asked == [
        'sum by (track, version, feature, bin) (increase(mlaiops_model_feature_bin_total{model="fraud", pod=~"("}[1h]))'
    ]
    assert review("AnomalyRule", rule, promql=Parser()).allowed


def test_a_drift_section_the_model_refuses_is_reported_once_and_asks_prometheus_nothing() -> None:
    rule = {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "metadata": {"name": "drift", "namespace": "fraud"},
        "spec": {"drift": {"model": "fraud", "window": "2h", "baseline": {"offset": "1h"}}},
    }
    parser = Parser()
    result = review("AnomalyRule", rule, promql=parser)
    assert result.errors == [
        "spec.drift: baseline.offset (1h) must be at least the window (2h): the baseline window would overlap "
        "the live one"
    ]
    assert parser.asked == []


@pytest.mark.parametrize(
    ("name", "source"), [("model-roc-auc", "the score buckets"), ("model-accuracy", "the label counters")]
)
def test_the_label_metrics_take_a_min_sample_size_and_their_wrong_fields_are_refused(name: str, source: str) -> None:
    """model-accuracy and model-roc-auc are judged from counts in the operator: minSampleSize is theirs, a query
    or alpha is refused, naming what they are computed from; both may stand in one analysis."""
    good = {"name": name, "thresholdRange": {"min": 0.8}, "minSampleSize": 200}
    other_label_metric = {
        "name": "model-accuracy" if name == "model-roc-auc" else "model-roc-auc",
        "thresholdRange": {"min": 0.9},
    }
    assert _errors("ModelDeployment", ("spec.analysis.metrics", [good])) == []
    assert _errors("ModelDeployment", ("spec.analysis.metrics", [other_label_metric, good])) == []
    for field, value, message in (
        ("query", "up", f"spec.analysis.metrics[0]: {name} is computed from {source}: remove query"),
        ("alpha", 0.01, f"spec.analysis.metrics[0]: {name} is computed from {source}: remove alpha"),
        ("thresholdRange", None, "spec.analysis.metrics[0]: thresholdRange is required"),
        ("minSampleSize", 0, "spec.analysis.metrics[0].minSampleSize: Input should be greater than or equal to 1"),
    ):
        metric = {**good, field: value} if value is not None else {k: v for k, v in good.items() if k != field}
        errors = _errors("ModelDeployment", ("spec.analysis.metrics", [metric]))
        assert any(line.startswith(message) for line in errors), (field, errors)


def test_only_the_relative_and_label_metrics_take_a_min_sample_size() -> None:
    other = {"name": "request-success-rate", "thresholdRange": {"min": 0.99}, "minSampleSize": 200}
    assert _errors("ModelDeployment", ("spec.analysis.metrics", [other])) == [
        "spec.analysis.metrics[0]: only error-rate-vs-stable, latency-vs-stable and accuracy-vs-stable "
        "take minSampleSize (model-accuracy and model-roc-auc take minSampleSize too); remove it"
    ]


def test_header_and_mirror_steps_without_gateway_routing_are_refused_by_the_webhook_itself() -> None:
    """The webhook's own check (the model's stops at its first error): each such step named, and none once
    trafficRouting is set."""
    header = {"name": "beta", "match": [{"headerName": "X-Tenant", "headerValue": {"exact": "beta"}}]}
    steps = [
        {"setMirrorRoute": {"name": "shadow", "percentage": 20}},
        {"weight": 5},
        {"setHeaderRoute": header},
        {"setMirrorRoute": {"name": "shadow-2", "percentage": 50}},
    ]
    routing = [
        line for line in _errors("ModelDeployment", ("spec.rollout.canary.steps", steps)) if "needs traffic" in line
    ]
    assert routing == [
        "spec.rollout: canary.steps[0].setMirrorRoute needs trafficRouting.gatewayAPI (an HTTPRoute)",
        "spec.rollout: canary.steps[2].setHeaderRoute needs trafficRouting.gatewayAPI (an HTTPRoute)",
        "spec.rollout: canary.steps[3].setMirrorRoute needs trafficRouting.gatewayAPI (an HTTPRoute)",
    ]
    routed = _errors(
        "ModelDeployment",
        ("spec.rollout.canary.steps", steps),
        ("spec.rollout.trafficRouting", {"gatewayAPI": {"httpRoute": "fraud"}}),
    )
    assert routed == []
