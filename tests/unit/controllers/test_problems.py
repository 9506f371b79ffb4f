"""A refused spec is refused with every problem at once, each naming its field, and its status says Invalid."""

from __future__ import annotations

from typing import Any

import pytest

from mlaiops.admission.promql import PromqlUnavailable
from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.api.retrainpolicy import RetrainPolicySpec
from mlaiops.controllers.common import DanglingReference, InvalidSpec, invalid_spec_status
from mlaiops.controllers.problems import checked_spec
from tests.unit.api.helpers import DELETE, edited, example

pytestmark = pytest.mark.unit
PARSE_ERROR = '1:5: parse error: unexpected identifier "oops"'


class Parser:
    """Prometheus's parser as the operator sees it: a message for queries containing 'oops', else None."""

    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.asked: list[str] = []

    def check(self, query: str) -> str | None:
        self.asked.append(query)
        if not self.up:
            raise PromqlUnavailable("Prometheus at http://prometheus is unreachable")
        return PARSE_ERROR if "oops" in query else None


def refusal(model: type[Any], obj: dict[str, Any], parser: Parser | None = None) -> list[str]:
    with pytest.raises(InvalidSpec) as refused:
        checked_spec(model, obj, parser or Parser())
    return str(refused.value).split("; ")


def test_a_valid_spec_parses_and_its_queries_are_asked_of_prometheus() -> None:
    parser = Parser()
    spec = checked_spec(AnomalyRuleSpec, example("AnomalyRule"), parser)
    assert isinstance(spec, AnomalyRuleSpec) and parser.asked == [example("AnomalyRule")["spec"]["query"]]


def test_several_model_errors_in_one_object_are_all_listed() -> None:
    obj = example("ModelDeployment")
    obj = edited(obj, "spec.rollout.canary.steps", [{"weight": 50}, {"weight": 20}])
    obj = edited(obj, "spec.autoscaling", {"minReplicas": 5, "maxReplicas": 2})
    problems = refusal(ModelDeploymentSpec, obj)
    assert "spec.rollout.canary: steps[1].weight (20) must be greater than steps[0].weight (50)" in problems
    assert "spec.autoscaling: minReplicas (5) must not exceed maxReplicas (2)" in problems


def test_bad_promql_is_reported_in_prometheus_words_beside_the_other_problems() -> None:
    obj = edited(example("AnomalyRule"), "spec.query", "rate(oops[5m])")
    obj = edited(obj, "spec.detector", {"type": "threshold"})
    problems = refusal(AnomalyRuleSpec, obj)
    assert f"spec.query: invalid PromQL: {PARSE_ERROR}" in problems
    assert "spec.detector: detector type threshold needs upper, lower or both" in problems
    assert not any("b'" in problem for problem in problems)  # Prometheus's text, never the client's bytes


def test_a_query_that_parses_is_not_refused_while_prometheus_is_down() -> None:
    checked_spec(AnomalyRuleSpec, example("AnomalyRule"), Parser(up=False))


def test_an_impossible_cron_is_refused_naming_the_field() -> None:
    obj = edited(example("RetrainPolicy"), "spec.triggers.schedule.cron", "99 25 * * *")
    problems = refusal(RetrainPolicySpec, obj)
    assert len(problems) == 1 and problems[0].startswith("spec.triggers.schedule.cron: ")


def test_a_playbook_with_three_problems_lists_three() -> None:
    obj = example("RemediationPlaybook")
    obj = edited(obj, "spec.actions.0.scale", {"delta": 1, "replicas": 3})
    obj = edited(obj, "spec.actions.2.notify", DELETE)
    obj = edited(obj, "spec.actions.1.name", "scale-out")
    problems = refusal(RemediationPlaybookSpec, obj)
    assert {
        "spec.actions[0].scale: set exactly one of replicas, delta and factor",
        "spec.actions[2]: type notify needs its settings in notify",
        "spec: action names must be unique: scale-out",
    } <= set(problems)


def test_the_status_of_a_refused_spec_says_invalid_with_every_problem() -> None:
    status = invalid_spec_status(InvalidSpec("spec.a: x; spec.b: y"), 4, "2026-01-01T00:00:00Z", "state")
    assert status["state"] == "Invalid" and status["observedGeneration"] == 4
    [ready] = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"], ready["message"]) == (
        "Ready",
        "False",
        "InvalidSpec",
        "spec.a: x; spec.b: y",
    )


def test_a_dangling_reference_that_stops_the_pass_is_pending_with_both_conditions() -> None:
    earlier = "2025-12-31T00:00:00Z"
    current = {"conditions": [{"type": "Ready", "status": "False", "reason": "x", "lastTransitionTime": earlier}]}
    status = invalid_spec_status(DanglingReference("spec.model: gone"), 2, "2026-01-01T00:00:00Z", current=current)
    assert status["phase"] == "Pending"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Ready"]["reason"], conditions["ResolvedRefs"]["reason"]) == ("DanglingReference", "RefNotFound")
    assert conditions["Ready"]["lastTransitionTime"] == earlier  # unchanged status keeps its time: no rewrite


def test_a_check_that_breaks_never_stops_the_controller_the_model_still_judges() -> None:
    class Broken:
        def check(self, query: str) -> str | None:
            raise RuntimeError("a bug")

    assert isinstance(checked_spec(AnomalyRuleSpec, example("AnomalyRule"), Broken()), AnomalyRuleSpec)
    with pytest.raises(InvalidSpec, match=r"spec\.detector"):
        checked_spec(AnomalyRuleSpec, edited(example("AnomalyRule"), "spec.detector", {"type": "threshold"}), Broken())
