"""Which fields name which objects, what a missing or forbidden one reads like, and the conditions that report it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlaiops.api.anomalyrule import AnomalyRuleSpec
from mlaiops.api.common import Condition
from mlaiops.api.modeldeployment import ModelDeploymentSpec
from mlaiops.api.references import Reference, RefProblem, Unreadable, problems, references, with_references
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.api.retrainpolicy import RetrainPolicySpec
from tests.unit.api.helpers import example

pytestmark = pytest.mark.unit
NS = "shop"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = {"kind": "Secret", "data": {"slack-webhook": "aHR0cDovL2V4YW1wbGU="}}


def playbook_spec(**changes: Any) -> RemediationPlaybookSpec:
    spec = example("RemediationPlaybook")["spec"]
    spec["triggers"] = [{"rules": [{"name": "latency"}, {"name": "errors"}]}]
    spec["actions"].append({"name": "retrain", "type": "retrain", "retrain": {"policyRef": {"name": "churn"}}})
    spec.update(changes)
    return RemediationPlaybookSpec.model_validate(spec)


def lookup(*present: tuple[str, str], secret: dict[str, Any] | None = SECRET) -> Any:
    """A ``get`` over the (kind, name) pairs given; the notify Secret as ``secret``."""

    def get(ref: Reference) -> dict[str, Any] | None:
        if ref.kind == "Secret":
            return secret if ref.name == "mlaiops-notify" else None
        return {"kind": ref.kind} if (ref.kind, ref.name) in present else None

    return get


def messages(found: list[RefProblem]) -> list[str]:
    return [problem.message for problem in found]


def test_a_playbook_names_its_rules_target_policy_and_secret_in_field_order() -> None:
    refs = references(playbook_spec())
    assert [(r.path, r.kind, r.name) for r in refs] == [
        ("spec.triggers[0].rules[0].name", "AnomalyRule", "latency"),
        ("spec.triggers[0].rules[1].name", "AnomalyRule", "errors"),
        ("spec.target", "ModelDeployment", "fraud-detector"),
        ("spec.actions[2].notify.urlSecretRef", "Secret", "mlaiops-notify"),
        ("spec.actions[3].retrain.policyRef.name", "RetrainPolicy", "churn"),
    ]
    assert refs[2].api_version == "mlaiops.dev/v1alpha1" and refs[3].key == "slack-webhook"


def test_a_deployment_target_is_looked_up_in_apps() -> None:
    refs = references(playbook_spec(target={"kind": "Deployment", "name": "web"}))
    assert Reference("spec.target", "apps/v1", "Deployment", "web") in refs


def test_every_missing_reference_of_a_playbook_is_listed_with_its_field() -> None:
    found = problems(references(playbook_spec()), NS, lookup(("AnomalyRule", "errors")), ["mlaiops-notify"])
    assert messages(found) == [
        'spec.triggers[0].rules[0].name: AnomalyRule "latency" not found in namespace "shop"',
        'spec.target: ModelDeployment "fraud-detector" not found in namespace "shop"',
        'spec.actions[3].retrain.policyRef.name: RetrainPolicy "churn" not found in namespace "shop"',
    ]
    assert {problem.reason for problem in found} == {"RefNotFound"}


def test_nothing_is_reported_when_everything_exists() -> None:
    present = [("AnomalyRule", "latency"), ("AnomalyRule", "errors"), ("ModelDeployment", "fraud-detector")]
    get = lookup(*present, ("RetrainPolicy", "churn"))
    assert problems(references(playbook_spec()), NS, get, ["mlaiops-notify"]) == []


def test_a_missing_secret_and_a_missing_key_are_reported() -> None:
    refs = [r for r in references(playbook_spec()) if r.kind == "Secret"]
    assert messages(problems(refs, NS, lookup(secret=None), ["mlaiops-notify"])) == [
        'spec.actions[2].notify.urlSecretRef: Secret "mlaiops-notify" not found in namespace "shop"'
    ]
    assert messages(problems(refs, NS, lookup(secret={"data": {"other": "eA=="}}), ["mlaiops-notify"])) == [
        'spec.actions[2].notify.urlSecretRef.key: Secret "mlaiops-notify" in namespace "shop" has no key "slack-webhook"'
    ]


def test_a_secret_the_operator_may_not_read_is_not_looked_up_but_reported_as_not_permitted() -> None:
    asked: list[Reference] = []

    def get(ref: Reference) -> dict[str, Any] | None:
        asked.append(ref)
        return {}

    refs = [Reference("spec.actions[0].notify.urlSecretRef", "v1", "Secret", "db-password", "url")]
    found = problems(refs, NS, get, ["mlaiops-notify"])
    assert asked == []  # never widen what the operator reads
    assert [(p.reason, p.message) for p in found] == [
        (
            "RefNotPermitted",
            'spec.actions[0].notify.urlSecretRef: the operator may read only the Secrets "mlaiops-notify", '
            'not Secret "db-password"',
        )
    ]


def test_an_unreadable_reference_is_neither_reported_nor_trusted() -> None:
    def get(ref: Reference) -> dict[str, Any] | None:
        raise Unreadable("503")

    assert problems(references(playbook_spec()), NS, get, ["mlaiops-notify"]) == []


def test_model_deployment_and_retrain_policy_references() -> None:
    md = example("ModelDeployment")["spec"]
    md["model"] = {"source": {"retrainPolicyRef": {"name": "churn"}}}
    assert [(r.path, r.kind, r.name) for r in references(ModelDeploymentSpec.model_validate(md))] == [
        ("spec.model.source.retrainPolicyRef.name", "RetrainPolicy", "churn")
    ]
    policy = RetrainPolicySpec.model_validate(example("RetrainPolicy")["spec"])
    assert [(r.path, r.kind, r.name) for r in references(policy)] == [
        ("spec.modelDeploymentRef.name", "ModelDeployment", "fraud-detector"),
        ("spec.triggers.onAnomaly.rules[0].name", "AnomalyRule", "fraud-prediction-drift"),
        ("spec.triggers.onAnomaly.rules[1].name", "AnomalyRule", "fraud-input-drift"),
    ]
    rule = AnomalyRuleSpec.model_validate(example("AnomalyRule")["spec"])
    assert [(r.path, r.kind) for r in references(rule)] == [("spec.target", "ModelDeployment")]


# --- conditions ----------------------------------------------------------------------------------------------


def by_type(conditions: list[Condition]) -> dict[str, Condition]:
    return {c.type: c for c in conditions}


def ready(status: str, reason: str, at: datetime = NOW) -> Condition:
    return Condition(type="Ready", status=status, reason=reason, last_transition_time=at)  # type: ignore[arg-type]


MISSING = [
    RefProblem("RefNotFound", 'spec.target: Deployment "web" not found in namespace "shop"'),
    RefProblem("RefNotFound", 'spec.triggers[0].rules[0].name: AnomalyRule "x" not found in namespace "shop"'),
]


def test_missing_references_make_ready_false_and_resolved_refs_false_listing_each() -> None:
    planned = [ready("True", "Ready"), Condition(type="Suspended", status="False", reason="Active")]
    conditions = by_type(with_references(planned, MISSING, [], NOW, 3))
    for kind, reason in (("Ready", "DanglingReference"), ("ResolvedRefs", "RefNotFound")):
        assert (conditions[kind].status, conditions[kind].reason) == ("False", reason)
        assert conditions[kind].message == "; ".join(problem.message for problem in MISSING)
        assert conditions[kind].observed_generation == 3
    assert conditions["Suspended"].reason == "Active"  # the planner's other conditions stay


def test_only_forbidden_references_say_ref_not_permitted() -> None:
    forbidden = [RefProblem("RefNotPermitted", "spec.actions[0].notify.urlSecretRef: ...")]
    conditions = by_type(with_references([], forbidden, [], NOW, 1))
    assert conditions["Ready"].reason == conditions["ResolvedRefs"].reason == "RefNotPermitted"


def test_transition_times_survive_passes_that_change_nothing() -> None:
    earlier = NOW - timedelta(hours=1)
    stored = [ready("False", "DanglingReference", earlier)]
    stored.append(Condition(type="ResolvedRefs", status="False", reason="RefNotFound", last_transition_time=earlier))
    conditions = by_type(with_references([ready("True", "Ready")], MISSING, stored, NOW, 1))
    assert conditions["Ready"].last_transition_time == conditions["ResolvedRefs"].last_transition_time == earlier


def test_when_the_references_appear_both_conditions_clear() -> None:
    stored = [ready("False", "DanglingReference"), Condition(type="ResolvedRefs", status="False", reason="RefNotFound")]
    later = NOW + timedelta(seconds=5)
    # A planner that writes Ready (the playbook's) wins; one that does not (the RetrainPolicy's) leaves ours stale.
    for planned in ([ready("True", "Ready", later)], list(stored)):
        conditions = by_type(with_references(planned, [], stored, later, 1))
        assert (conditions["Ready"].status, conditions["Ready"].reason) == ("True", "Ready")
        assert (conditions["ResolvedRefs"].status, conditions["ResolvedRefs"].reason) == ("True", "ResolvedRefs")
        assert conditions["ResolvedRefs"].last_transition_time == later


def test_a_planner_ready_false_for_its_own_reason_is_kept_when_references_resolve() -> None:
    planned = [ready("False", "ReplicasNotReady")]
    assert by_type(with_references(planned, [], [], NOW, 1))["Ready"].reason == "ReplicasNotReady"
