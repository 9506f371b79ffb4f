"""Guardrail verdicts spelled out whole: allowed flag, reason and sentence, and the exact boundaries.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests checked the reason but not the
``allowed`` flag or the sentence of every refusal, nor what happens exactly at the cooldown and window.
"""

from __future__ import annotations

from mlaiops.api.remediationplaybook import RemediationPlaybookSpec
from mlaiops.remediation.guardrails import Verdict, admit, check_scope, may_disrupt, min_healthy
from tests.unit.remediation.test_guardrails import NOW, SPEC, TARGET, record


def guarded(**guardrails: object) -> RemediationPlaybookSpec:
    """The example playbook with some guardrails changed."""
    return SPEC.model_copy(update={"guardrails": SPEC.guardrails.model_copy(update=guardrails)})


def test_every_refusal_is_not_allowed_and_says_why() -> None:
    """Each refusal is allowed=False (not merely falsy) with its reason and its full sentence."""
    suspended = SPEC.model_copy(update={"suspend": True})
    assert admit(suspended, [], 0, TARGET, NOW) == Verdict(
        False, "Suspended", "the playbook is suspended (spec.suspend)"
    )
    assert admit(SPEC, [], 3, TARGET, NOW) == Verdict(
        False,
        "CircuitOpen",
        "3 executions in a row did not resolve the anomaly (limit 3); "
        "fix the cause, then set spec.suspend to false again or edit the playbook to reset",
    )
    assert admit(SPEC, [record(30, "Running")], 0, TARGET, NOW) == Verdict(
        False, "ExecutionInProgress", f"execution e30 is still Running on {TARGET}"
    )
    assert admit(SPEC, [], 0, TARGET, NOW, target_busy="rolling out") == Verdict(
        False, "TargetBusy", f"{TARGET} is rolling out; acting now would fight it"
    )
    assert admit(SPEC, [record(12, duration=5)], 0, TARGET, NOW) == Verdict(
        False, "CoolingDown", f"cooldown on {TARGET} for another 180s"
    )


def test_scope_refusals_are_not_allowed_and_name_the_kinds() -> None:
    """Out of scope and unsupported kinds are refusals with a sentence that names what is allowed."""
    assert check_scope("fraud", "payments", "Deployment") == Verdict(
        False, "OutOfScope", "target is in namespace 'payments'; this playbook may act only in 'fraud'"
    )
    assert check_scope("fraud", "fraud", "Pod") == Verdict(
        False, "UnsupportedTarget", "cannot act on kind Pod; use one of Deployment, ModelDeployment, StatefulSet"
    )


def test_cooldown_ends_exactly_when_it_has_elapsed() -> None:
    """An execution that finished exactly one cooldown (10m) ago no longer blocks the next one."""
    finished_ten_minutes_ago = record(11, duration=1)
    assert admit(SPEC, [finished_ten_minutes_ago], 0, TARGET, NOW).allowed


def test_an_execution_exactly_one_window_old_is_out_of_the_window() -> None:
    """The rate limit counts executions started less than one window (1h) ago, not exactly one window ago."""
    other = "Deployment/other"
    history = [record(60, target=other), record(35, target=other), record(20, target=other)]
    assert admit(SPEC, history, 0, TARGET, NOW).allowed
    history = [record(59, target=other), *history[1:]]
    assert admit(SPEC, history, 0, TARGET, NOW) == Verdict(
        False, "RateLimited", "3 executions in the last 1h (maxExecutions 3)"
    )


def test_percent_min_healthy_rounds_up_from_the_exact_share() -> None:
    """1% of 101 replicas is 1.01 pods: two must stay ready (rounded up, never down)."""
    assert min_healthy(guarded(min_healthy="1%"), 101) == 2
    assert min_healthy(guarded(min_healthy="50%"), 3) == 2


def test_may_disrupt_takes_the_percentage_of_the_desired_replicas() -> None:
    """minHealthy 50% of 4 desired is 2: with 3 ready one pod may go, with 2 ready none, and the refusal says so."""
    spec = guarded(min_healthy="50%")
    assert may_disrupt(spec, ready=3, desired=4).allowed
    assert may_disrupt(spec, ready=2, desired=4) == Verdict(
        False, "MinHealthy", "2 pods ready; removing 1 would leave fewer than minHealthy 2"
    )
