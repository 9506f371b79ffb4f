"""The job action's pure parts: the step's Job name, the Job built from the template, and its outcome."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from mlaiops.api.remediationplaybook import Action, JobAction
from mlaiops.remediation import jobs

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CONTEXT = jobs.StepContext(
    playbook="fix",
    namespace="shop",
    execution="fix-20261127120000",
    index=1,
    step="repair",
    target_kind="Deployment",
    target_name="web",
    trigger="rule:shop/latency",
    fingerprint="fp1",
    incident="web-20261127-120000-abcdef",
)


def settings(**template: object) -> JobAction:
    spec = {"containers": [{"name": "fix", "image": "fixer:1", "env": [{"name": "MLAIOPS_STEP", "value": "mine"}]}]}
    return JobAction.model_validate({"template": {"spec": {**spec, **template}}})


def test_the_name_is_the_same_for_the_same_step_and_differs_between_steps_and_executions() -> None:
    name = jobs.job_name("fix", "fix-20261127120000", 1)
    assert name == jobs.job_name("fix", "fix-20261127120000", 1)
    assert name.startswith("fix-s1-")
    assert name != jobs.job_name("fix", "fix-20261127120000", 2)
    assert name != jobs.job_name("fix", "fix-20261127120001", 1)


@pytest.mark.parametrize("playbook", ["a" * 63, "ab-" * 21, "x"])
def test_the_name_is_a_dns_label_of_at_most_63_characters(playbook: str) -> None:
    name = jobs.job_name(playbook, f"{playbook[:40]}-20261127120000-3", 9)
    assert len(name) <= 63 and DNS_LABEL.match(name), name


def test_the_job_runs_the_template_with_the_context_as_environment_bounded_by_the_timeout() -> None:
    owner = {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "metadata": {"name": "fix", "uid": "u1"},
    }
    job = jobs.job_object(settings(), CONTEXT, 120, owner)
    assert job["metadata"]["name"] == jobs.job_name("fix", CONTEXT.execution, 1)
    assert job["metadata"]["namespace"] == "shop"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert job["spec"]["activeDeadlineSeconds"] == 120 and job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    env = pod["containers"][0]["env"]
    values = {e["name"]: e["value"] for e in env}
    assert values["MLAIOPS_INCIDENT"] == "web-20261127-120000-abcdef"
    assert values["MLAIOPS_EXECUTION"] == "fix-20261127120000"
    assert values["MLAIOPS_RULE"] == "shop/latency" and values["MLAIOPS_TRIGGER"] == "rule:shop/latency"
    assert (values["MLAIOPS_TARGET_KIND"], values["MLAIOPS_TARGET_NAME"]) == ("Deployment", "web")
    assert values["MLAIOPS_STEP_INDEX"] == "1"
    assert env[-1] == {"name": "MLAIOPS_STEP", "value": "mine"}  # the user's own entry comes last and wins
    assert job["spec"]["template"]["metadata"]["labels"][jobs.STEP_LABEL] == "1"
    assert jobs.belongs_to(job, CONTEXT)


def test_the_template_in_the_spec_is_left_untouched() -> None:
    chosen = settings()
    jobs.job_object(chosen, CONTEXT, 60, None)
    assert chosen.template["spec"]["containers"][0]["env"] == [{"name": "MLAIOPS_STEP", "value": "mine"}]
    assert "restartPolicy" not in chosen.template["spec"]


def test_a_job_of_another_step_or_execution_is_not_adopted() -> None:
    job = jobs.job_object(settings(), CONTEXT, 60, None)
    other = jobs.StepContext(**{**CONTEXT.__dict__, "index": 2})
    assert not jobs.belongs_to(job, other)
    assert not jobs.belongs_to({"metadata": {"name": job["metadata"]["name"]}}, CONTEXT)


@pytest.mark.parametrize(
    ("status", "phase", "message"),
    [
        ({}, "Running", "Job j running (0 active, 0 failed pods)"),
        ({"active": 1}, "Running", "Job j running (1 active, 0 failed pods)"),
        ({"conditions": [{"type": "Complete", "status": "True"}]}, "Complete", "Job j completed"),
        (
            {
                "conditions": [
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "1 failed"}
                ]
            },
            "Failed",
            "Job j failed (BackoffLimitExceeded: 1 failed)",
        ),
        ({"conditions": [{"type": "Failed", "status": "False"}]}, "Running", "Job j running (0 active, 0 failed pods)"),
    ],
)
def test_the_jobs_state_comes_from_its_conditions(status: dict, phase: str, message: str) -> None:
    state = jobs.job_state({"metadata": {"name": "j"}, "status": status})
    assert (state.phase, state.message) == (phase, message)


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({}, "template.spec"),
        ({"spec": {"containers": []}}, "template.spec.containers"),
        ({"spec": {"containers": [{"name": "a"}]}}, "template.spec.containers[0].image"),
        ({"spec": {"containers": [{"image": "a"}]}}, "template.spec.containers[0].name"),
        ({"spec": {"containers": [{"name": "a", "image": "b"}], "restartPolicy": "Always"}}, "restartPolicy"),
    ],
)
def test_an_unrunnable_template_is_refused_naming_the_field(template: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(field)):
        Action.model_validate({"type": "job", "job": {"template": template}})


def test_a_job_or_webhook_action_needs_its_settings() -> None:
    for kind in ("job", "webhook"):
        with pytest.raises(ValidationError, match=f"type {kind} needs its settings in {kind}"):
            Action.model_validate({"type": kind})
    with pytest.raises(ValidationError, match="job is set but type is webhook"):
        Action.model_validate(
            {
                "type": "webhook",
                "job": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}},
                "webhook": {"url": "https://x", "signingSecretRef": {"name": "s", "key": "k"}},
            }
        )
