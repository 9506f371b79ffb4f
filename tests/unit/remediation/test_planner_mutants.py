"""Whole passes of the playbook planner spelled out: every step, event and status field.

Mutation testing (benchmarks/mutation.py) showed that the behaviour tests in test_planner.py check
states, reasons and a few messages, but not the sentences, references, timestamps, counters and
conditions that status, Events and ``kubectl mlaiops`` show. These scenarios state them whole, one
for each way an execution goes. The expected values were recorded from the planner as it stands
and read over (they pin today's behaviour; a deliberate change updates them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlaiops.api.remediationplaybook import ExecutionRecord, RemediationPlaybookStatus, StepRecord, SuspendedRule
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.planner import (
    MAX_EXECUTIONS_KEPT,
    Facts,
    Outcome,
    Planner,
    Step,
    needs_busy_check,
    target_of,
    timed_out,
)
from tests.unit.remediation.test_planner import NS, T0, Cluster, make_spec

NOTIFY = {"urlSecretRef": {"name": "hook", "key": "url"}}


def trace(cluster: Cluster, states: list[str | None]) -> dict[str, Any]:
    """Everything the scenario produced: steps asked for, events, the summary state per pass, final status."""
    return {
        "steps": [
            (s.kind, s.execution, s.index, s.action.name or s.action.type, s.target, s.reason, s.params, s.text)
            for s in cluster.steps
        ],
        "events": [(e.type, e.reason, e.message, e.about) for e in cluster.events],
        "states": states,
        "status": cluster.status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def ticks(cluster: Cluster, *seconds: float) -> list[str | None]:
    states = []
    for s in seconds:
        cluster.tick(s)
        states.append(cluster.status.state)
    return states


def scenario_verified() -> dict[str, Any]:
    cluster = Cluster(make_spec())
    cluster.fire()
    states = ticks(cluster, 10, 10)
    cluster.resolve()
    states += ticks(cluster, 10, 60)
    return trace(cluster, states)


def scenario_exhausted() -> dict[str, Any]:
    cluster = Cluster(make_spec())
    cluster.fire()
    return trace(cluster, ticks(cluster, 31, 31, 10))


def scenario_failed_and_refused_steps() -> dict[str, Any]:
    cluster = Cluster(make_spec())
    cluster.handlers["prepare:scale-out"] = lambda step: Outcome("Refused", "2 pods ready; minHealthy 2")
    cluster.handlers["bounce"] = lambda step: Outcome("Failed", "API error 422: Unprocessable", at=cluster.now)
    cluster.fire()
    return trace(cluster, ticks(cluster, 10, 10))


def scenario_timed_out() -> dict[str, Any]:
    actions = [
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "timeout": "30s"},
        {"name": "bounce", "type": "restart", "timeout": "1m"},
    ]
    cluster = Cluster(make_spec(actions))
    cluster.took = timedelta(seconds=45)
    cluster.fire()
    states = ticks(cluster, 10)
    cluster.took = timedelta(0)
    cluster.handlers["bounce"] = lambda step: Outcome("Retry", "API error 503", at=cluster.now)
    states += ticks(cluster, 50, 50, 10)
    return trace(cluster, states)


def scenario_retried_past_the_window() -> dict[str, Any]:
    actions = [{"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "timeout": "10m"}, {"type": "restart"}]
    cluster = Cluster(make_spec(actions))
    cluster.handlers["scale-out"] = lambda step: Outcome("Retry", "API error 503: Unavailable", at=cluster.now)
    cluster.fire()
    return trace(cluster, ticks(cluster, 61, 10))


def scenario_approved() -> dict[str, Any]:
    cluster = Cluster(make_spec(approval={"required": True, "timeout": "5m"}))
    cluster.fire()
    states = ticks(cluster, 10)
    cluster.approve = cluster.execution().id
    return trace(cluster, states + ticks(cluster, 10))


def scenario_approval_expired() -> dict[str, Any]:
    cluster = Cluster(make_spec(approval={"required": True, "timeout": "1m"}))
    cluster.fire()
    return trace(cluster, ticks(cluster, 59, 2, 10))


def scenario_cooldown_then_rate_limit() -> dict[str, Any]:
    cluster = Cluster(make_spec(guardrails={"cooldown": "1m", "maxExecutions": 2, "window": "1h"}))
    cluster.fire()
    states = ticks(cluster, 10)
    cluster.resolve()
    states += ticks(cluster, 10)
    cluster.fire()
    states += ticks(cluster, 20, 40, 10)
    cluster.resolve()
    states += ticks(cluster, 70)
    cluster.fire()
    return trace(cluster, states + ticks(cluster, 10))


def scenario_busy_target() -> dict[str, Any]:
    cluster = Cluster(make_spec(target={"kind": "ModelDeployment", "name": "fraud"}))
    cluster.busy = {("shop", "ModelDeployment", "fraud"): "rolling out v2"}
    cluster.fire()
    return trace(cluster, ticks(cluster, 10))


def scenario_suspended() -> dict[str, Any]:
    cluster = Cluster(make_spec(suspend=True))
    cluster.fire()
    return trace(cluster, ticks(cluster, 10))


def scenario_circuit_opens_and_resets() -> dict[str, Any]:
    actions = [
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}},
        {"name": "page", "type": "notify", "notify": NOTIFY, "verify": {"within": "30s"}},
    ]
    spec = make_spec(
        actions, guardrails={"cooldown": "0s", "maxExecutions": 10, "circuitBreaker": {"maxUnverified": 2}}
    )
    cluster = Cluster(spec)
    cluster.handlers["notify"] = lambda step: Outcome("Succeeded", "notified")
    states: list[str | None] = []
    for _ in range(2):
        cluster.fire()
        states += ticks(cluster, 31, 31, 31, 31)
        cluster.resolve()
        states += ticks(cluster, 60)
    cluster.fire()
    states += ticks(cluster, 10, 10)
    cluster.generation = 2
    return trace(cluster, states + ticks(cluster, 10, 10))


def scenario_dry_run() -> dict[str, Any]:
    cluster = Cluster(make_spec(dryRun=True))
    cluster.fire()
    return trace(cluster, ticks(cluster, 10))


def scenario_suspend_rule() -> dict[str, Any]:
    actions = [{"name": "mute", "type": "suspendRule", "suspendRule": {"duration": "2m"}, "verify": {"within": "30s"}}]
    cluster = Cluster(make_spec(actions))
    cluster.fire()
    states = ticks(cluster, 10, 31, 31)
    cluster.fire()
    return trace(cluster, states + ticks(cluster, 10, 60, 10))


def scenario_retry_returned_after_the_timeout() -> dict[str, Any]:
    actions = [
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "timeout": "1m"},
        {"name": "bounce", "type": "restart"},
    ]
    cluster = Cluster(make_spec(actions))
    cluster.handlers["scale-out"] = lambda step: Outcome(
        "Retry", "API error 503", at=cluster.now + timedelta(seconds=90)
    )
    cluster.fire()
    return trace(cluster, ticks(cluster, 10))


def scenario_circuit_open_with_a_failed_notification() -> dict[str, Any]:
    actions = [
        {"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "verify": {"within": "30s"}},
        {"name": "page", "type": "notify", "notify": NOTIFY, "verify": {"within": "30s"}},
    ]
    spec = make_spec(
        actions, guardrails={"cooldown": "0s", "maxExecutions": 10, "circuitBreaker": {"maxUnverified": 1}}
    )
    cluster = Cluster(spec)
    cluster.handlers["notify"] = lambda step: Outcome("Failed", "webhook answered 500", at=cluster.now)
    cluster.fire()
    states = ticks(cluster, 31, 31, 31, 31)
    cluster.resolve()
    return trace(cluster, states + ticks(cluster, 60, 10))


APPROVAL_EXPIRED = {
    "steps": [],
    "events": [
        (
            "Normal",
            "AwaitingApproval",
            "execution fix-20261127120000 on Deployment/web for shop/latency awaits approval",
            ("rule:shop/latency",),
        ),
        ("Warning", "ApprovalExpired", "execution fix-20261127120000 expired without approval", ()),
    ],
    "states": ["AwaitingApproval", "AwaitingApproval", "CoolingDown"],
    "status": {
        "state": "CoolingDown",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Expired",
                "reason": "ApprovalExpired",
                "message": "not approved within 1m",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:01:01Z",
            }
        ],
        "totalExecutions": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_approval_expired() -> None:
    """Approval expired: every step, event, summary state and status field as below."""
    assert scenario_approval_expired() == APPROVAL_EXPIRED


APPROVED = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "AwaitingApproval",
            "execution fix-20261127120000 on Deployment/web for shop/latency awaits approval",
            ("rule:shop/latency",),
        ),
        ("Normal", "Approved", "execution fix-20261127120000 approved", ()),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
    ],
    "states": ["AwaitingApproval", "Running"],
    "status": {
        "state": "Running",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Verifying",
                "reason": "Approved",
                "message": "approved by annotation",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "approval": {"decision": "Approved", "via": "annotation", "decidedAt": "2026-11-27T12:00:10Z"},
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:10Z",
                        "finishedAt": "2026-11-27T12:00:10Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "params": {"replicas": "3", "from": "2"},
                    }
                ],
            }
        ],
        "totalExecutions": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "scale-out: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_approved() -> None:
    """Approved: every step, event, summary state and status field as below."""
    assert scenario_approved() == APPROVED


BUSY_TARGET = {
    "steps": [],
    "events": [
        (
            "Warning",
            "TargetBusy",
            "shop/latency: ModelDeployment/fraud is rolling out v2; acting now would fight it",
            ("rule:shop/latency",),
        )
    ],
    "states": ["Idle"],
    "status": {
        "state": "Idle",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "target": "ModelDeployment/fraud",
                "state": "Refused",
                "reason": "TargetBusy",
                "message": "ModelDeployment/fraud is rolling out v2; acting now would fight it",
                "since": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:00:00Z",
            }
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_busy_target() -> None:
    """Busy target: every step, event, summary state and status field as below."""
    assert scenario_busy_target() == BUSY_TARGET


CIRCUIT_OPENS_AND_RESETS = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:00:31+00:00"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120304",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120304",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120304",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120304",
            {"replicas": "4", "from": "3"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120304",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120304",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120304",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120304",
            {"restartedAt": "2026-11-27T12:03:35+00:00"},
            "",
        ),
        (
            "notify",
            "fix-20261127120304",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120304",
            {},
            "RemediationPlaybook shop/fix suspended: 2 executions in a row did not resolve the anomaly on "
            "Deployment/web",
        ),
        (
            "prepare",
            "fix-20261127120628",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120628",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120628",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120628",
            {"replicas": "5", "from": "4"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 page on Deployment/web: did page",
            ("target:shop/Deployment/web",),
        ),
        (
            "Warning",
            "ExecutionFailed",
            "fix-20261127120000: none of the 2 steps resolved the anomaly",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120304 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120304 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120304 page on Deployment/web: did page",
            ("target:shop/Deployment/web",),
        ),
        (
            "Warning",
            "ExecutionFailed",
            "fix-20261127120304: none of the 2 steps resolved the anomaly",
            ("rule:shop/latency",),
        ),
        ("Warning", "CircuitOpen", "2 executions in a row did not resolve the anomaly; playbook suspended", ()),
        (
            "Warning",
            "CircuitOpen",
            "shop/latency: 2 executions in a row did not resolve the anomaly (limit 2); fix the cause, then "
            "set spec.suspend to false again or edit the playbook to reset",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120628 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120628 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
    ],
    "states": [
        "Running",
        "Running",
        "Idle",
        "Idle",
        "Idle",
        "Running",
        "Running",
        "Suspended",
        "Suspended",
        "Suspended",
        "Suspended",
        "Suspended",
        "Running",
        "Running",
    ],
    "status": {
        "state": "Running",
        "observedGeneration": 2,
        "executions": [
            {
                "id": "fix-20261127120628",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120608-de0fa2",
                "target": "Deployment/web",
                "state": "Verifying",
                "reason": "Started",
                "message": "started by shop/latency",
                "since": "2026-11-27T12:06:08Z",
                "startedAt": "2026-11-27T12:06:28Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:06:28Z",
                        "finishedAt": "2026-11-27T12:06:28Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "params": {"replicas": "5", "from": "4"},
                    }
                ],
            },
            {
                "id": "fix-20261127120304",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120304-c23a66",
                "target": "Deployment/web",
                "state": "Failed",
                "reason": "Exhausted",
                "message": "none of the 2 steps resolved the anomaly",
                "since": "2026-11-27T12:03:04Z",
                "startedAt": "2026-11-27T12:03:04Z",
                "finishedAt": "2026-11-27T12:04:06Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:03:04Z",
                        "finishedAt": "2026-11-27T12:03:04Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "verified": False,
                        "params": {"replicas": "4", "from": "3"},
                    },
                    {
                        "action": "page",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:03:35Z",
                        "finishedAt": "2026-11-27T12:03:35Z",
                        "result": "Succeeded",
                        "message": "did page",
                        "verified": False,
                        "params": {"restartedAt": "2026-11-27T12:03:35+00:00"},
                    },
                ],
            },
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Failed",
                "reason": "Exhausted",
                "message": "none of the 2 steps resolved the anomaly",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:01:02Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "verified": False,
                        "params": {"replicas": "3", "from": "2"},
                    },
                    {
                        "action": "page",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:31Z",
                        "finishedAt": "2026-11-27T12:00:31Z",
                        "result": "Succeeded",
                        "message": "did page",
                        "verified": False,
                        "params": {"restartedAt": "2026-11-27T12:00:31+00:00"},
                    },
                ],
            },
        ],
        "totalExecutions": 3,
        "consecutiveUnverified": 0,
        "lastExecutionTime": "2026-11-27T12:06:28Z",
        "lastAction": "scale-out: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 2,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:06:28Z",
                "observedGeneration": 2,
            },
        ],
    },
}


def test_circuit_opens_and_resets() -> None:
    """Circuit opens and resets: every step, event, summary state and status field as below."""
    assert scenario_circuit_opens_and_resets() == CIRCUIT_OPENS_AND_RESETS


COOLDOWN_THEN_RATE_LIMIT = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120120",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120120",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120120",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120120",
            {"replicas": "4", "from": "3"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
        ("Normal", "ExecutionSucceeded", "fix-20261127120000: scale-out resolved the anomaly", ("rule:shop/latency",)),
        ("Warning", "CoolingDown", "shop/latency: cooldown on Deployment/web for another 50s", ("rule:shop/latency",)),
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120120 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120120 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
        ("Normal", "ExecutionSucceeded", "fix-20261127120120: scale-out resolved the anomaly", ("rule:shop/latency",)),
        (
            "Warning",
            "RateLimited",
            "shop/latency: 2 executions in the last 1h (maxExecutions 2)",
            ("rule:shop/latency",),
        ),
    ],
    "states": ["Running", "CoolingDown", "CoolingDown", "CoolingDown", "Running", "CoolingDown", "Idle"],
    "status": {
        "state": "Idle",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120240",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "target": "Deployment/web",
                "state": "Refused",
                "reason": "RateLimited",
                "message": "2 executions in the last 1h (maxExecutions 2)",
                "since": "2026-11-27T12:02:40Z",
                "finishedAt": "2026-11-27T12:02:40Z",
            },
            {
                "id": "fix-20261127120120",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120020-2b3757",
                "target": "Deployment/web",
                "state": "Succeeded",
                "reason": "Verified",
                "message": "scale-out resolved the anomaly",
                "since": "2026-11-27T12:00:20Z",
                "startedAt": "2026-11-27T12:01:20Z",
                "finishedAt": "2026-11-27T12:01:30Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:01:20Z",
                        "finishedAt": "2026-11-27T12:01:20Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "verified": True,
                        "params": {"replicas": "4", "from": "3"},
                    }
                ],
            },
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Succeeded",
                "reason": "Verified",
                "message": "scale-out resolved the anomaly",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:00:10Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "verified": True,
                        "params": {"replicas": "3", "from": "2"},
                    }
                ],
            },
        ],
        "totalExecutions": 2,
        "verifiedExecutions": 2,
        "consecutiveUnverified": 0,
        "lastExecutionTime": "2026-11-27T12:01:20Z",
        "lastAction": "scale-out: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_cooldown_then_rate_limit() -> None:
    """Cooldown then rate limit: every step, event, summary state and status field as below."""
    assert scenario_cooldown_then_rate_limit() == COOLDOWN_THEN_RATE_LIMIT


DRY_RUN = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepDryRun",
            "fix-20261127120000 scale-out on Deployment/web: would scale Deployment/web replicas=3",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepDryRun",
            "fix-20261127120000 bounce on Deployment/web: would restart Deployment/web "
            "restartedAt=2026-11-27T12:00:00+00:00",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "ExecutionDryRun",
            "fix-20261127120000: dry run: every step recorded, nothing changed",
            ("rule:shop/latency",),
        ),
    ],
    "states": ["CoolingDown"],
    "status": {
        "state": "CoolingDown",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "DryRun",
                "reason": "DryRun",
                "message": "dry run: every step recorded, nothing changed",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:00:00Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "DryRun",
                        "message": "would scale Deployment/web replicas=3",
                        "params": {"replicas": "3", "from": "2"},
                    },
                    {
                        "action": "bounce",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "DryRun",
                        "message": "would restart Deployment/web restartedAt=2026-11-27T12:00:00+00:00",
                        "params": {"restartedAt": "2026-11-27T12:00:00+00:00"},
                    },
                ],
            }
        ],
        "totalExecutions": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "bounce: DryRun",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "DryRun",
                "message": "dry run: actions are recorded, not performed",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_dry_run() -> None:
    """Dry run: every step, event, summary state and status field as below."""
    assert scenario_dry_run() == DRY_RUN


EXHAUSTED = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:00:31+00:00"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 bounce on Deployment/web: did bounce",
            ("target:shop/Deployment/web",),
        ),
        (
            "Warning",
            "ExecutionFailed",
            "fix-20261127120000: none of the 2 steps resolved the anomaly",
            ("rule:shop/latency",),
        ),
    ],
    "states": ["Running", "Running", "CoolingDown"],
    "status": {
        "state": "CoolingDown",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Failed",
                "reason": "Exhausted",
                "message": "none of the 2 steps resolved the anomaly",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:01:02Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "verified": False,
                        "params": {"replicas": "3", "from": "2"},
                    },
                    {
                        "action": "bounce",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:31Z",
                        "finishedAt": "2026-11-27T12:00:31Z",
                        "result": "Succeeded",
                        "message": "did bounce",
                        "verified": False,
                        "params": {"restartedAt": "2026-11-27T12:00:31+00:00"},
                    },
                ],
            }
        ],
        "totalExecutions": 1,
        "consecutiveUnverified": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "bounce: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_exhausted() -> None:
    """Exhausted: every step, event, summary state and status field as below."""
    assert scenario_exhausted() == EXHAUSTED


FAILED_AND_REFUSED_STEPS = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:00:00+00:00"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        ("Warning", "StepRefused", "scale-out on Deployment/web: 2 pods ready; minHealthy 2", ()),
        (
            "Warning",
            "StepFailed",
            "fix-20261127120000 bounce on Deployment/web: API error 422: Unprocessable",
            ("target:shop/Deployment/web",),
        ),
        (
            "Warning",
            "ExecutionFailed",
            "fix-20261127120000: none of the 2 steps resolved the anomaly",
            ("rule:shop/latency",),
        ),
    ],
    "states": ["CoolingDown", "CoolingDown"],
    "status": {
        "state": "CoolingDown",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Failed",
                "reason": "Exhausted",
                "message": "none of the 2 steps resolved the anomaly",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:00:00Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Refused",
                        "message": "2 pods ready; minHealthy 2",
                        "verified": False,
                    },
                    {
                        "action": "bounce",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Failed",
                        "message": "API error 422: Unprocessable",
                        "verified": False,
                        "params": {"restartedAt": "2026-11-27T12:00:00+00:00"},
                    },
                ],
            }
        ],
        "totalExecutions": 1,
        "consecutiveUnverified": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "bounce: Failed",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_failed_and_refused_steps() -> None:
    """Failed and refused steps: every step, event, summary state and status field as below."""
    assert scenario_failed_and_refused_steps() == FAILED_AND_REFUSED_STEPS


RETRIED_PAST_THE_WINDOW = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "restart",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            1,
            "restart",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:01:01+00:00"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Warning",
            "StepFailed",
            "fix-20261127120000 scale-out on Deployment/web: API error 503: Unavailable",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 restart-1 on Deployment/web: did ",
            ("target:shop/Deployment/web",),
        ),
    ],
    "states": ["Running", "Running"],
    "status": {
        "state": "Running",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Verifying",
                "reason": "Started",
                "message": "started by shop/latency",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:01:01Z",
                        "result": "Failed",
                        "message": "API error 503: Unavailable",
                        "verified": False,
                        "params": {"replicas": "3", "from": "2"},
                    },
                    {
                        "action": "restart-1",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:01:01Z",
                        "finishedAt": "2026-11-27T12:01:01Z",
                        "result": "Succeeded",
                        "message": "did ",
                        "params": {"restartedAt": "2026-11-27T12:01:01+00:00"},
                    },
                ],
            }
        ],
        "totalExecutions": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "restart-1: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_retried_past_the_window() -> None:
    """Retried past the window: every step, event, summary state and status field as below."""
    assert scenario_retried_past_the_window() == RETRIED_PAST_THE_WINDOW


SUSPEND_RULE = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "mute",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "mute",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:00:00+00:00"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120222",
            0,
            "mute",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120222",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120222",
            0,
            "mute",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120222",
            {"restartedAt": "2026-11-27T12:02:22+00:00"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 mute on Deployment/web: triggers from AnomalyRule shop/latency ignored "
            "until 2026-11-27T12:02:00+00:00 (the rule itself is untouched)",
            ("target:shop/Deployment/web",),
        ),
        (
            "Warning",
            "ExecutionFailed",
            "fix-20261127120000: none of the 1 steps resolved the anomaly",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120222 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120222 mute on Deployment/web: triggers from AnomalyRule shop/latency ignored "
            "until 2026-11-27T12:04:22+00:00 (the rule itself is untouched)",
            ("target:shop/Deployment/web",),
        ),
    ],
    "states": ["Running", "Running", "CoolingDown", "CoolingDown", "CoolingDown", "Running"],
    "status": {
        "state": "Running",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120222",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120112-f5dde0",
                "target": "Deployment/web",
                "state": "Verifying",
                "reason": "Started",
                "message": "started by shop/latency",
                "since": "2026-11-27T12:01:12Z",
                "startedAt": "2026-11-27T12:02:22Z",
                "steps": [
                    {
                        "action": "mute",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:02:22Z",
                        "finishedAt": "2026-11-27T12:02:22Z",
                        "result": "Succeeded",
                        "message": "triggers from AnomalyRule shop/latency ignored until "
                        "2026-11-27T12:04:22+00:00 (the rule itself is untouched)",
                        "params": {"restartedAt": "2026-11-27T12:02:22+00:00"},
                    }
                ],
            },
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Failed",
                "reason": "Exhausted",
                "message": "none of the 1 steps resolved the anomaly",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:00:41Z",
                "steps": [
                    {
                        "action": "mute",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Succeeded",
                        "message": "triggers from AnomalyRule shop/latency ignored until "
                        "2026-11-27T12:02:00+00:00 (the rule itself is untouched)",
                        "verified": False,
                        "params": {"restartedAt": "2026-11-27T12:00:00+00:00"},
                    }
                ],
            },
        ],
        "totalExecutions": 2,
        "consecutiveUnverified": 1,
        "lastExecutionTime": "2026-11-27T12:02:22Z",
        "lastAction": "mute: Succeeded",
        "suspendedRules": [{"rule": "shop/latency", "until": "2026-11-27T12:04:22Z"}],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_suspend_rule() -> None:
    """Suspend rule: every step, event, summary state and status field as below."""
    assert scenario_suspend_rule() == SUSPEND_RULE


SUSPENDED = {
    "steps": [],
    "events": [
        ("Warning", "Suspended", "shop/latency: the playbook is suspended (spec.suspend)", ("rule:shop/latency",))
    ],
    "states": ["Suspended"],
    "status": {
        "state": "Suspended",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "target": "Deployment/web",
                "state": "Refused",
                "reason": "Suspended",
                "message": "the playbook is suspended (spec.suspend)",
                "since": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:00:00Z",
            }
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "True",
                "reason": "Suspended",
                "message": "spec.suspend is true",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_suspended() -> None:
    """Suspended: every step, event, summary state and status field as below."""
    assert scenario_suspended() == SUSPENDED


TIMED_OUT = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:00:00+00:00"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Warning",
            "StepFailed",
            "fix-20261127120000 scale-out on Deployment/web: timed out: not finished within timeout 30s (it "
            "returned only then: did scale-out)",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 bounce on Deployment/web: did bounce",
            ("target:shop/Deployment/web",),
        ),
    ],
    "states": ["Running", "Running", "Running", "Running"],
    "status": {
        "state": "Running",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Verifying",
                "reason": "Started",
                "message": "started by shop/latency",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:45Z",
                        "result": "Failed",
                        "message": "timed out: not finished within timeout 30s (it returned only then: did scale-out)",
                        "verified": False,
                        "params": {"replicas": "3", "from": "2"},
                    },
                    {
                        "action": "bounce",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:45Z",
                        "result": "Succeeded",
                        "message": "did bounce",
                        "params": {"restartedAt": "2026-11-27T12:00:00+00:00"},
                    },
                ],
            }
        ],
        "totalExecutions": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "bounce: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_timed_out() -> None:
    """Timed out: every step, event, summary state and status field as below."""
    assert scenario_timed_out() == TIMED_OUT


VERIFIED = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
        ("Normal", "ExecutionSucceeded", "fix-20261127120000: scale-out resolved the anomaly", ("rule:shop/latency",)),
    ],
    "states": ["Running", "Running", "CoolingDown", "CoolingDown"],
    "status": {
        "state": "CoolingDown",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Succeeded",
                "reason": "Verified",
                "message": "scale-out resolved the anomaly",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:00:20Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "verified": True,
                        "params": {"replicas": "3", "from": "2"},
                    }
                ],
            }
        ],
        "totalExecutions": 1,
        "verifiedExecutions": 1,
        "consecutiveUnverified": 0,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "scale-out: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_verified() -> None:
    """Verified: every step, event, summary state and status field as below."""
    assert scenario_verified() == VERIFIED


RETRY_RETURNED_AFTER_THE_TIMEOUT = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            1,
            "bounce",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:00:00+00:00"},
            "",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Warning",
            "StepFailed",
            "fix-20261127120000 scale-out on Deployment/web: timed out: not finished within timeout 1m (API error 503)",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 bounce on Deployment/web: did bounce",
            ("target:shop/Deployment/web",),
        ),
    ],
    "states": ["Running"],
    "status": {
        "state": "Running",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Verifying",
                "reason": "Started",
                "message": "started by shop/latency",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:01:30Z",
                        "result": "Failed",
                        "message": "timed out: not finished within timeout 1m (API error 503)",
                        "verified": False,
                        "params": {"replicas": "3", "from": "2"},
                    },
                    {
                        "action": "bounce",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Succeeded",
                        "message": "did bounce",
                        "params": {"restartedAt": "2026-11-27T12:00:00+00:00"},
                    },
                ],
            }
        ],
        "totalExecutions": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "bounce: Succeeded",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "False",
                "reason": "Active",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_retry_returned_after_the_timeout() -> None:
    """Retry returned after the timeout: every step, event, summary state and status field as below."""
    assert scenario_retry_returned_after_the_timeout() == RETRY_RETURNED_AFTER_THE_TIMEOUT


CIRCUIT_OPEN_WITH_A_FAILED_NOTIFICATION = {
    "steps": [
        (
            "prepare",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            0,
            "scale-out",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"replicas": "3", "from": "2"},
            "",
        ),
        (
            "prepare",
            "fix-20261127120000",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "",
        ),
        (
            "act",
            "fix-20261127120000",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {"restartedAt": "2026-11-27T12:00:31+00:00"},
            "",
        ),
        (
            "notify",
            "fix-20261127120000",
            1,
            "page",
            ("shop", "Deployment", "web"),
            "playbook-fix-20261127120000",
            {},
            "RemediationPlaybook shop/fix suspended: 1 executions in a row did not resolve the anomaly on "
            "Deployment/web",
        ),
    ],
    "events": [
        (
            "Normal",
            "ExecutionStarted",
            "execution fix-20261127120000 on Deployment/web for shop/latency",
            ("rule:shop/latency",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 scale-out on Deployment/web: did scale-out",
            ("target:shop/Deployment/web",),
        ),
        (
            "Normal",
            "StepSucceeded",
            "fix-20261127120000 page on Deployment/web: did page",
            ("target:shop/Deployment/web",),
        ),
        (
            "Warning",
            "ExecutionFailed",
            "fix-20261127120000: none of the 2 steps resolved the anomaly",
            ("rule:shop/latency",),
        ),
        ("Warning", "CircuitOpen", "1 executions in a row did not resolve the anomaly; playbook suspended", ()),
    ],
    "states": ["Running", "Running", "Suspended", "Suspended", "Suspended", "Suspended"],
    "status": {
        "state": "Suspended",
        "observedGeneration": 1,
        "executions": [
            {
                "id": "fix-20261127120000",
                "trigger": "rule:shop/latency",
                "fingerprint": "fp1",
                "incident": "web-20261127-120000-1a0339",
                "target": "Deployment/web",
                "state": "Failed",
                "reason": "Exhausted",
                "message": "none of the 2 steps resolved the anomaly",
                "since": "2026-11-27T12:00:00Z",
                "startedAt": "2026-11-27T12:00:00Z",
                "finishedAt": "2026-11-27T12:01:02Z",
                "steps": [
                    {
                        "action": "scale-out",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:00Z",
                        "finishedAt": "2026-11-27T12:00:00Z",
                        "result": "Succeeded",
                        "message": "did scale-out",
                        "verified": False,
                        "params": {"replicas": "3", "from": "2"},
                    },
                    {
                        "action": "page",
                        "target": "Deployment/web",
                        "startedAt": "2026-11-27T12:00:31Z",
                        "finishedAt": "2026-11-27T12:00:31Z",
                        "result": "Succeeded",
                        "message": "did page",
                        "verified": False,
                        "params": {"restartedAt": "2026-11-27T12:00:31+00:00"},
                    },
                ],
            }
        ],
        "totalExecutions": 1,
        "consecutiveUnverified": 1,
        "lastExecutionTime": "2026-11-27T12:00:00Z",
        "lastAction": "page: Succeeded",
        "circuitOpenedAt": "2026-11-27T12:01:02Z",
        "notifications": [
            {
                "action": "page",
                "target": "fix",
                "startedAt": "2026-11-27T12:01:02Z",
                "finishedAt": "2026-11-27T12:01:02Z",
                "result": "Failed",
                "message": "webhook answered 500",
            }
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Suspended",
                "status": "True",
                "reason": "CircuitOpen",
                "message": "executions did not resolve the anomaly; edit the playbook to reset",
                "lastTransitionTime": "2026-11-27T12:01:02Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_circuit_open_with_a_failed_notification() -> None:
    """Circuit open with a failed notification: every step, event, summary state and status field as below."""
    assert scenario_circuit_open_with_a_failed_notification() == CIRCUIT_OPEN_WITH_A_FAILED_NOTIFICATION


def first_step(planner: Planner) -> Step:
    """The first step a pass asks for."""
    return next(planner.run())


def test_a_planner_acts_for_real_unless_told_to_dry_run() -> None:
    """Without dry_run (and spec.dryRun false) the planner records a real pass, not a dry run."""
    cluster = Cluster(make_spec())
    cluster.fire()
    planner = Planner(NS, "fix", 1, cluster.spec, cluster.status, cluster.facts(), T0)
    assert planner.dry_run is False


def test_the_status_read_is_never_changed_by_a_pass() -> None:
    """The planner works on a deep copy: the status it was given (kopf's copy) stays as it was."""
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick(31)
    read = cluster.status
    before = read.model_dump()
    cluster.tick(31)  # escalates: step 0 judged unverified, step 1 acts
    assert read.model_dump() == before


def test_executions_started_in_the_same_second_get_numbered_ids() -> None:
    """Ids are <playbook name, 40 chars at most>-<UTC time>, then -1, -2 ... when taken."""
    name = "a-playbook-name-that-is-longer-than-forty-chars"
    taken = [ExecutionRecord(id=f"{name[:40]}-20261127120000", target="Deployment/other", state="Succeeded")]
    cluster = Cluster(make_spec())
    cluster.fire()
    ids = []
    for _ in range(2):
        status = RemediationPlaybookStatus(executions=taken)
        planner = Planner(NS, name, 1, cluster.spec, status, cluster.facts(), T0)
        step = first_step(planner)
        ids.append(step.execution)
        taken = [*taken, ExecutionRecord(id=step.execution, target="Deployment/other", state="Succeeded")]
    assert ids == [f"{name[:40]}-20261127120000-1", f"{name[:40]}-20261127120000-2"]


def test_an_alert_starts_an_execution_triggered_by_the_alert() -> None:
    """An Alertmanager signal is recorded as trigger ``alert:<alertname>``, an AnomalyRule as ``rule:<ns/name>``."""
    alert = Signal("Alertmanager", "HighLatency", "fp7", T0, namespace=NS)
    planner = Planner(NS, "fix", 1, make_spec(), RemediationPlaybookStatus(), Facts(signals=[alert]), T0)
    first_step(planner)
    assert [e.trigger for e in planner.status.executions or []] == ["alert:HighLatency"]


def test_suspend_rule_without_settings_mutes_the_rule_for_an_hour() -> None:
    """A suspendRule step with no duration mutes the rule for 1h from the step's end."""
    cluster = Cluster(make_spec([{"name": "mute", "type": "suspendRule"}]))
    cluster.fire()
    cluster.tick()
    assert cluster.status.suspended_rules is not None
    assert [s.until for s in cluster.status.suspended_rules] == [T0 + timedelta(hours=1)]


# --- what a second mutation run found unpinned ---------------------------------------------------------

PAGE = {"type": "notify", "notify": NOTIFY}


def drive(planner: Planner, answer: Any = None) -> tuple[list[Step], list[Any]]:
    """Run one pass; ``answer(step)`` gives each step's outcome (default: Succeeded at the pass's time)."""
    steps: list[Step] = []
    run = planner.run()
    try:
        step = next(run)
        while True:
            steps.append(step)
            step = run.send(answer(step) if answer else Outcome("Succeeded", "done"))
    except StopIteration as done:
        return steps, done.value


def signal(rule: str = "shop/latency", fp: str = "fp1", **fields: Any) -> Signal:
    return Signal(fields.pop("source", "AnomalyRule"), rule, fp, fields.pop("since", T0), namespace=NS, **fields)


def firing(*signals: Signal, **fields: Any) -> Facts:
    """Facts with these signals and, for each, its rule firing (so nothing counts as resolved)."""
    rules = {
        s.rule: {
            "status": {
                "state": "Normal",
                "series": [{"fingerprint": s.fingerprint, "state": "Firing", "since": s.since.isoformat()}],
            }
        }
        for s in signals
        if s.source == "AnomalyRule"
    }
    return Facts(signals=list(signals), rules=rules, **fields)


def test_target_of_needs_both_the_kind_and_the_name_of_the_rule_target() -> None:
    spec = make_spec(target=None)
    assert target_of(spec, signal(target_kind="Deployment", target_name="web"), NS) == (NS, "Deployment", "web")
    assert target_of(spec, signal(target_kind="Deployment"), NS) is None
    assert target_of(spec, signal(target_name="web"), NS) is None


def test_a_step_times_out_only_past_its_timeout() -> None:
    action = make_spec().actions[0]  # timeout 2m
    assert timed_out(action, T0, T0 + timedelta(minutes=2)) is False
    assert timed_out(action, T0, T0 + timedelta(minutes=2, microseconds=1)) is True
    assert timed_out(action, None, T0 + timedelta(days=1)) is False


def test_busy_checks_are_asked_only_for_model_deployments_here_that_no_execution_covers() -> None:
    spec = make_spec(target=None, guardrails={"suppressDuringRollout": True})
    md = {"target_kind": "ModelDeployment"}
    signals = [
        signal("shop/muted", "m", target_name="muted", **md),
        signal("shop/a", "a", target_kind="Deployment", target_name="web"),
        Signal("AnomalyRule", "prod/b", "b", T0, namespace="prod", target_kind="ModelDeployment", target_name="b"),
        signal("shop/c", "c", target_name="covered", **md),
        signal("shop/d", "d", target_name="fraud", **md),
        signal("shop/e", "e", target_name="expired-mute", **md),
    ]
    covered = ExecutionRecord(
        id="x",
        target="ModelDeployment/covered",
        state="Failed",
        since=T0,
        started_at=T0,
        finished_at=T0 + timedelta(minutes=1),
    )
    status = RemediationPlaybookStatus(
        executions=[covered],
        suspended_rules=[
            SuspendedRule(rule="shop/muted", until=T0 + timedelta(seconds=1)),
            SuspendedRule(rule="shop/e", until=T0),
        ],
    )
    assert needs_busy_check(spec, status, signals, NS, T0) == {
        (NS, "ModelDeployment", "fraud"),
        (NS, "ModelDeployment", "expired-mute"),
    }
    later = [signal("shop/c", "c", since=T0 + timedelta(hours=2), target_name="covered", **md)]
    assert needs_busy_check(spec, status, later, NS, T0 + timedelta(hours=2)) == {(NS, "ModelDeployment", "covered")}


def test_a_rule_muted_until_now_is_no_longer_muted() -> None:
    spec = make_spec()
    status = RemediationPlaybookStatus(suspended_rules=[SuspendedRule(rule="shop/latency", until=T0)])
    planner = Planner(NS, "fix", 1, spec, status, firing(signal()), T0)
    steps, _ = drive(planner)
    assert planner.status.suspended_rules is None
    assert [s.kind for s in steps][:2] == ["prepare", "act"]


def test_every_signal_of_a_pass_is_considered_after_one_that_is_skipped() -> None:
    """A muted rule, a signal without a target and one an execution covers do not stop the next signal."""
    spec = make_spec(target=None)
    web = {"target_kind": "Deployment", "target_name": "web"}
    covered = ExecutionRecord(
        id="old", target="Deployment/covered", state="Failed", since=T0, started_at=T0, finished_at=T0
    )
    status = RemediationPlaybookStatus(
        executions=[covered], suspended_rules=[SuspendedRule(rule="shop/muted", until=T0 + timedelta(hours=1))]
    )
    signals = [
        signal("shop/muted", "m", **web),
        signal("shop/none", "n"),
        signal("shop/covered", "c", target_kind="Deployment", target_name="covered"),
        signal("shop/latency", "fp1", **web),
    ]
    planner = Planner(NS, "fix", 1, spec, status, firing(*signals), T0)
    drive(planner)
    assert [(e.trigger, e.target) for e in planner.status.executions or []] == [
        ("rule:shop/latency", "Deployment/web"),
        ("", "Deployment/covered"),
    ]


def test_an_approved_execution_is_running_when_its_first_step_is_written() -> None:
    cluster = Cluster(make_spec(approval={"required": True, "timeout": "5m"}))
    cluster.fire()
    cluster.tick()
    waiting = cluster.execution()
    assert (waiting.state, waiting.reason) == ("AwaitingApproval", "AwaitingApproval")
    cluster.approve = waiting.id
    cluster.tick()
    first = cluster.written[0].executions[0]  # type: ignore[index]
    assert (first.state, first.reason, first.message) == ("Running", "Approved", "approved by annotation")


def test_a_resumed_step_past_its_timeout_fails_saying_it_was_still_running() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.handlers["scale-out"] = lambda step: Outcome("Retry", "conflict")
    cluster.tick(150)  # the step stays Running; the next pass is past its 2m timeout
    cluster.handlers.clear()
    cluster.tick()
    step = (cluster.execution().steps or [])[0]
    assert (step.result, step.message) == (
        "Failed",
        "timed out: not finished within timeout 2m (the step was still running)",
    )
    assert step.finished_at == T0 + timedelta(seconds=150)


def test_transient_errors_fail_the_step_once_the_retry_window_has_passed_exactly() -> None:
    spec = make_spec([{"name": "scale-out", "type": "scale", "scale": {"delta": 1}, "timeout": "5m"}])
    cluster = Cluster(spec)
    cluster.fire()
    cluster.handlers["scale-out"] = lambda step: Outcome("Retry", "conflict")
    cluster.tick(59)
    cluster.tick(1)
    assert (cluster.execution().steps or [])[0].result == "Running"  # 59 s: within the window
    cluster.tick()  # 60 s after the start: the window is over
    step = (cluster.execution().steps or [])[0]
    assert (step.result, step.message) == ("Failed", "conflict")


def test_a_dry_run_describes_every_value_but_from() -> None:
    spec = make_spec([{"name": "bounce", "type": "restart"}])
    cluster = Cluster(spec)
    cluster.dry_run = True
    cluster.handlers["prepare:bounce"] = lambda step: Outcome("Succeeded", params={"b": "2", "a": "1", "from": "0"})
    cluster.fire()
    cluster.tick()
    step = (cluster.execution().steps or [])[0]
    assert (step.result, step.message) == ("DryRun", "would restart Deployment/web a=1 b=2")


def test_exactly_max_executions_are_kept_in_their_order() -> None:
    finished = [
        ExecutionRecord(id=f"f{i}", target="Deployment/web", state="Failed", finished_at=T0)
        for i in range(MAX_EXECUTIONS_KEPT - 1)
    ]
    running = ExecutionRecord(id="r", target="Deployment/web", state="Verifying", started_at=T0)
    status = RemediationPlaybookStatus(executions=[*finished, running])
    planner = Planner(NS, "fix", 1, make_spec(), status, Facts(signals=[]), T0)
    planner.bound()
    assert [e.id for e in planner.status.executions or []] == [*(e.id for e in finished), "r"]


def test_finishing_counts_only_verified_successes_as_verified() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    cluster.tick()
    cluster.resolve()
    cluster.rule_deleted = True  # resolved because the rule is gone: the event names no rule
    cluster.tick()
    assert cluster.execution().reason == "Verified"
    assert cluster.status.verified_executions == 1
    assert cluster.events[-1].about == ()
    early = Cluster(make_spec())
    early.fire()
    early.status = RemediationPlaybookStatus(
        executions=[ExecutionRecord(id="e", trigger="rule:shop/latency", target="Deployment/web", state="Running")]
    )
    early.resolve()
    early.tick()
    assert early.status.executions[0].reason == "ResolvedBeforeAction"  # type: ignore[index]
    assert early.status.verified_executions is None


def test_an_alert_execution_names_no_rule_in_its_events() -> None:
    alert = signal("HighLatency", "fp7", source="Alertmanager")
    planner = Planner(NS, "fix", 1, make_spec(), RemediationPlaybookStatus(), Facts(signals=[alert]), T0)
    _, events = drive(planner)
    assert events[0].reason == "ExecutionStarted" and events[0].about == ()


def test_a_refused_record_is_updated_only_for_its_own_signal() -> None:
    """An episode refused once is updated in place; another fingerprint or episode gets its own record."""
    spec = make_spec(suspend=True)
    old = ExecutionRecord(
        id="old",
        trigger="rule:shop/latency",
        fingerprint="fp1",
        since=T0 - timedelta(hours=1),
        target="Deployment/web",
        state="Refused",
        reason="Suspended",
        message="spec.suspend is true",
        finished_at=T0 - timedelta(hours=1),
    )
    other = ExecutionRecord(
        id="other",
        trigger="rule:shop/latency",
        fingerprint="fp2",
        since=T0,
        target="Deployment/web",
        state="Refused",
        reason="Suspended",
        message="spec.suspend is true",
        finished_at=T0 - timedelta(hours=1),
    )
    status = RemediationPlaybookStatus(executions=[old, other])
    planner = Planner(NS, "fix", 1, spec, status, Facts(signals=[signal()]), T0)
    drive(planner)
    assert [(e.id, e.fingerprint) for e in planner.status.executions or []] == [
        ("fix-20261127120000", "fp1"),
        ("old", "fp1"),
        ("other", "fp2"),
    ]


def test_busy_facts_are_ignored_unless_the_playbook_suppresses_during_rollouts() -> None:
    spec = make_spec(guardrails={"suppressDuringRollout": False})
    busy = {(NS, "Deployment", "web"): "rolling out"}
    planner = Planner(NS, "fix", 1, spec, RemediationPlaybookStatus(), firing(signal(), busy=busy), T0)
    steps, _ = drive(planner)
    assert [s.kind for s in steps][:2] == ["prepare", "act"]


def test_refused_records_do_not_count_for_the_cooldown() -> None:
    refused = ExecutionRecord(
        id="r",
        trigger="rule:shop/other",
        fingerprint="x",
        since=T0,
        target="Deployment/web",
        state="Refused",
        reason="TargetBusy",
        message="busy",
        finished_at=T0,
    )
    planner = Planner(NS, "fix", 1, make_spec(), RemediationPlaybookStatus(executions=[refused]), firing(signal()), T0)
    steps, _ = drive(planner)
    assert [s.kind for s in steps][:2] == ["prepare", "act"]


def test_suspending_a_rule_keeps_the_other_muted_rules() -> None:
    spec = make_spec([{"name": "mute", "type": "suspendRule", "suspendRule": {"duration": "2m"}}])
    other = SuspendedRule(rule="shop/other", until=T0 + timedelta(hours=1))
    planner = Planner(NS, "fix", 1, spec, RemediationPlaybookStatus(suspended_rules=[other]), firing(signal()), T0)
    drive(planner)
    assert [(s.rule, s.until) for s in planner.status.suspended_rules or []] == [
        ("shop/other", T0 + timedelta(hours=1)),
        ("shop/latency", T0 + timedelta(minutes=2)),
    ]


# circuit breaker notifications: unnamed actions, several records, nothing to notify about


def test_circuit_notifications_go_to_each_unnamed_notify_action_with_the_time_they_returned() -> None:
    spec = make_spec([{"type": "scale", "scale": {"delta": 1}}, PAGE, PAGE])
    refused = ExecutionRecord(id="z", target="prod/Deployment/db", state="Refused", finished_at=T0)
    last = ExecutionRecord(id="fix-20261127110000", target="Deployment/web", state="Failed", finished_at=T0)
    status = RemediationPlaybookStatus(consecutive_unverified=3, executions=[refused, last])
    planner = Planner(NS, "fix", 1, spec, status, Facts(signals=[]), T0)
    answers = iter([Outcome("Failed", "no hook"), Outcome("Succeeded", "sent", at=T0 + timedelta(seconds=5))])
    steps, _ = drive(planner, lambda step: next(answers))
    assert [(s.kind, s.index, s.execution, s.target) for s in steps] == [
        ("notify", 1, "fix-20261127110000", (NS, "Deployment", "web")),
        ("notify", 2, "fix-20261127110000", (NS, "Deployment", "web")),
    ]
    assert steps[0].text.endswith("did not resolve the anomaly on Deployment/web")
    assert [(n.action, n.result, n.message, n.finished_at) for n in planner.status.notifications or []] == [
        ("notify-1", "Failed", "no hook", T0),
        ("notify-2", "Succeeded", "sent", T0 + timedelta(seconds=5)),
    ]


def test_circuit_notifications_with_nothing_to_name_are_skipped() -> None:
    """No execution that acted, or a notification whose action is gone: recorded as Skipped, nothing sent."""
    spec = make_spec([{"type": "scale", "scale": {"delta": 1}}, PAGE, PAGE])
    refused = ExecutionRecord(id="z", target="Deployment/web", state="Refused", finished_at=T0)
    status = RemediationPlaybookStatus(consecutive_unverified=3, executions=[refused])
    planner = Planner(NS, "fix", 1, spec, status, Facts(signals=[]), T0)
    steps, _ = drive(planner)
    assert steps == []
    assert [(n.action, n.result, n.message, n.finished_at) for n in planner.status.notifications or []] == [
        ("notify-1", "Skipped", "circuit breaker opened", T0),
        ("notify-2", "Skipped", "circuit breaker opened", T0),
    ]
    gone = StepRecord(action="page-old", target="fix", started_at=T0, result="Running")
    done = StepRecord(action="notify-1", target="fix", started_at=T0, result="Succeeded")
    last = ExecutionRecord(id="e", target="Deployment/web", state="Failed", finished_at=T0)
    status = RemediationPlaybookStatus(
        circuit_opened_at=T0, consecutive_unverified=3, executions=[last], notifications=[done, gone]
    )
    planner = Planner(NS, "fix", 1, spec, status, Facts(signals=[]), T0 + timedelta(seconds=1), dry_run=False)
    steps, _ = drive(planner)
    assert steps == []
    assert [(n.action, n.result, n.message) for n in planner.status.notifications or []] == [
        ("notify-1", "Succeeded", ""),
        ("page-old", "Skipped", "circuit breaker opened"),
    ]
