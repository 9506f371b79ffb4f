"""Guardrails: scope, suspension, circuit breaker, concurrency, suppression, cooldown, rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlaiops.api.remediationplaybook import ExecutionRecord, RemediationPlaybookSpec, ScaleAction
from mlaiops.remediation.guardrails import admit, check_scope, may_disrupt, may_restart, min_healthy, scaled_replicas
from mlaiops.remediation.quantity import parse, raised
from tests.unit.api.helpers import example

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SPEC = RemediationPlaybookSpec.model_validate(example("RemediationPlaybook")["spec"])  # cooldown 10m, 3 per 1h
TARGET = "ModelDeployment/fraud-detector"


def record(minutes_ago: float, state: str = "Succeeded", target: str = TARGET, duration: float = 1) -> ExecutionRecord:
    started = NOW - timedelta(minutes=minutes_ago)
    finished = started + timedelta(minutes=duration) if state not in ("Running", "AwaitingApproval") else None
    return ExecutionRecord(id=f"e{minutes_ago}", target=target, state=state, started_at=started, finished_at=finished)


def test_scope() -> None:
    assert check_scope("fraud", "fraud", "Deployment").allowed
    verdict = check_scope("fraud", "payments", "Deployment")
    assert not verdict.allowed and verdict.reason == "OutOfScope" and "'payments'" in verdict.message
    assert check_scope("fraud", "fraud", "Pod").reason == "UnsupportedTarget"


def test_first_execution_is_allowed() -> None:
    assert admit(SPEC, [], 0, TARGET, NOW).allowed


def test_suspended_and_circuit_breaker() -> None:
    assert admit(SPEC.model_copy(update={"suspend": True}), [], 0, TARGET, NOW).reason == "Suspended"
    verdict = admit(SPEC, [], 3, TARGET, NOW)
    assert verdict.reason == "CircuitOpen" and "3 executions in a row" in verdict.message
    assert admit(SPEC, [], 2, TARGET, NOW).allowed


def test_one_execution_at_a_time_per_target() -> None:
    assert admit(SPEC, [record(30, "Running")], 0, TARGET, NOW).reason == "ExecutionInProgress"
    assert admit(SPEC, [record(30, "AwaitingApproval")], 0, TARGET, NOW).reason == "ExecutionInProgress"
    assert admit(SPEC, [record(30, "Running", target="Deployment/other")], 0, TARGET, NOW).allowed


def test_cooldown_counts_from_the_end_of_the_last_execution() -> None:
    verdict = admit(SPEC, [record(12, duration=5)], 0, TARGET, NOW)  # finished 7 minutes ago
    assert verdict.reason == "CoolingDown" and "180s" in verdict.message
    assert admit(SPEC, [record(20, duration=5)], 0, TARGET, NOW).allowed


def test_rate_limit_over_the_window() -> None:
    history = [record(50), record(35), record(20)]
    assert admit(SPEC, history, 0, TARGET, NOW).reason == "RateLimited"
    assert admit(SPEC, [record(70), record(35), record(20)], 0, TARGET, NOW).allowed
    refused = [record(50, "Refused"), record(35), record(20)]
    assert admit(SPEC, refused, 0, TARGET, NOW).allowed


def test_suppressed_while_the_target_changes_on_its_own() -> None:
    verdict = admit(SPEC, [], 0, TARGET, NOW, target_busy="rolling out v8")
    assert verdict.reason == "TargetBusy" and "rolling out v8" in verdict.message
    relaxed = SPEC.model_copy(
        update={"guardrails": SPEC.guardrails.model_copy(update={"suppress_during_rollout": False})}
    )
    assert admit(relaxed, [], 0, TARGET, NOW, target_busy="rolling out v8").allowed


def test_min_healthy_absolute_and_percent() -> None:
    assert min_healthy(SPEC, 5) == 2
    percent = SPEC.model_copy(update={"guardrails": SPEC.guardrails.model_copy(update={"min_healthy": "60%"})})
    assert min_healthy(percent, 5) == 3
    assert may_disrupt(SPEC, ready=3, desired=3).allowed
    verdict = may_disrupt(SPEC, ready=2, desired=3)
    assert verdict.reason == "MinHealthy"


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        ({"replicas": 6}, 3, 6),
        ({"delta": 2}, 3, 5),
        ({"delta": 2, "max": 4}, 3, 4),
        ({"delta": -5, "min": 1}, 3, 1),
        ({"factor": 1.5}, 3, 5),
        ({"factor": 0.5, "min": 2}, 3, 2),
    ],
)
def test_scaled_replicas(action: dict, current: int, expected: int) -> None:
    assert scaled_replicas(ScaleAction.model_validate(action), current) == expected


@pytest.mark.parametrize(
    ("current", "factor", "cap", "resource", "expected"),
    [
        ("512Mi", 1.5, None, "memory", "768Mi"),
        ("1Gi", 2, "4Gi", "memory", "2Gi"),
        ("3Gi", 2, "4Gi", "memory", "4Gi"),
        ("500m", 1.5, None, "cpu", "750m"),
        ("1", 2, "1500m", "cpu", "1500m"),
        ("250M", 2, None, "memory", "477Mi"),
    ],
)
def test_raised_quantities(current: str, factor: float, cap: str | None, resource: str, expected: str) -> None:
    assert raised(current, factor, cap, resource) == expected


def test_quantity_parse() -> None:
    assert parse("1Ki") == 1024 and parse("1.5") == parse("1500m") and parse(2) == 2
    with pytest.raises(ValueError, match="invalid quantity"):
        parse("lots")


def test_a_restart_may_not_take_ready_pods_below_min_healthy() -> None:
    playbook = RemediationPlaybookSpec.model_validate(
        {"triggers": [{"rules": [{"name": "r"}]}], "actions": [{"type": "restart"}], "guardrails": {"minHealthy": 2}}
    )
    assert may_restart(playbook, ready=3, desired=3, unavailable=1).allowed
    refused = may_restart(playbook, ready=2, desired=3, unavailable=1)
    assert (refused.allowed, refused.reason) == (False, "MinHealthy") and "minHealthy 2" in refused.message
    assert may_restart(playbook, ready=1, desired=3, unavailable=0).allowed  # surge only: nothing ready goes
    assert may_restart(playbook, ready=0, desired=3, unavailable=1).allowed  # nothing ready to take away
