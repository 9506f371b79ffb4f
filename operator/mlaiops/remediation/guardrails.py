"""Guardrails, pure: may this playbook start an execution on this target now?

Checked in the order an SRE would want them explained: scope, suspension, the circuit
breaker, one execution at a time, suppression during rollouts, cooldown, rate limit.
Every refusal carries a CamelCase reason and a sentence, for status and Events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from mlaiops.api.common import seconds
from mlaiops.api.remediationplaybook import ExecutionRecord, RemediationPlaybookSpec, ScaleAction

ACTIVE_STATES = frozenset({"Pending", "AwaitingApproval", "Running", "Verifying"})
ACTABLE_KINDS = frozenset({"ModelDeployment", "Deployment", "StatefulSet"})


@dataclass(frozen=True)
class Verdict:
    """Whether an execution may start; when not, why."""

    allowed: bool
    reason: str = "Allowed"
    message: str = ""


ALLOWED = Verdict(True)


def check_scope(playbook_namespace: str, target_namespace: str, target_kind: str) -> Verdict:
    """A namespaced playbook acts only in its own namespace, and only on kinds we know how to act on."""
    if target_namespace != playbook_namespace:
        return Verdict(
            False,
            "OutOfScope",
            f"target is in namespace {target_namespace!r}; this playbook may act only in {playbook_namespace!r}",
        )
    if target_kind not in ACTABLE_KINDS:
        return Verdict(
            False,
            "UnsupportedTarget",
            f"cannot act on kind {target_kind}; use one of {', '.join(sorted(ACTABLE_KINDS))}",
        )
    return ALLOWED


def admit(
    spec: RemediationPlaybookSpec,
    executions: list[ExecutionRecord],
    consecutive_unverified: int,
    target: str,
    now: datetime,
    target_busy: str | None = None,
) -> Verdict:
    """Whether a new execution on ``target`` (kind/name) may start at ``now``.

    ``target_busy`` says why the target is changing on its own (rolling out, retraining), if it is.
    """
    if spec.suspend:
        return Verdict(False, "Suspended", "the playbook is suspended (spec.suspend)")
    limit = spec.guardrails.circuit_breaker.max_unverified
    if consecutive_unverified >= limit:
        return Verdict(
            False,
            "CircuitOpen",
            f"{consecutive_unverified} executions in a row did not resolve the anomaly (limit {limit}); "
            "fix the cause, then set spec.suspend to false again or edit the playbook to reset",
        )
    on_target = [record for record in executions if record.target == target]
    running = next((record for record in on_target if record.state in ACTIVE_STATES), None)
    if running is not None:
        return Verdict(False, "ExecutionInProgress", f"execution {running.id} is still {running.state} on {target}")
    if target_busy and spec.guardrails.suppress_during_rollout:
        return Verdict(False, "TargetBusy", f"{target} is {target_busy}; acting now would fight it")
    cooldown = timedelta(seconds=seconds(spec.guardrails.cooldown))
    last = max((record.finished_at or record.started_at for record in on_target if record.started_at), default=None)
    if last is not None and now - last < cooldown:
        left = cooldown - (now - last)
        return Verdict(False, "CoolingDown", f"cooldown on {target} for another {int(left.total_seconds())}s")
    window = timedelta(seconds=seconds(spec.guardrails.window))
    recent = [
        record
        for record in executions
        if record.started_at and now - record.started_at < window and record.state != "Refused"
    ]
    if len(recent) >= spec.guardrails.max_executions:
        return Verdict(
            False,
            "RateLimited",
            f"{len(recent)} executions in the last {spec.guardrails.window} (maxExecutions {spec.guardrails.max_executions})",
        )
    return ALLOWED


def min_healthy(spec: RemediationPlaybookSpec, desired_replicas: int) -> int:
    """Ready pods that must remain, from an absolute number or a percentage of the desired replicas."""
    value = spec.guardrails.min_healthy
    if isinstance(value, str):
        return math.ceil(desired_replicas * int(value.rstrip("%")) / 100)
    return value


def may_disrupt(spec: RemediationPlaybookSpec, ready: int, desired: int, pods: int = 1) -> Verdict:
    """Whether taking ``pods`` ready pods away keeps at least minHealthy ready."""
    floor = min_healthy(spec, desired)
    if ready - pods < floor:
        return Verdict(
            False, "MinHealthy", f"{ready} pods ready; removing {pods} would leave fewer than minHealthy {floor}"
        )
    return ALLOWED


def scaled_replicas(action: ScaleAction, current: int) -> int:
    """The replica count a scale action asks for, within its min and max."""
    if action.replicas is not None:
        wanted = action.replicas
    elif action.delta is not None:
        wanted = current + action.delta
    else:
        wanted = math.ceil(current * (action.factor or 1))
    return max(action.min, min(action.max, wanted))


def restart_unavailable(kind: str, workload_spec: dict[str, object], desired: int) -> int:
    """Ready pods a rollout restart takes away at once, from the workload's update strategy.

    Deployment: ``maxUnavailable`` (default 25%, rounded down as Kubernetes does; Recreate: all).
    StatefulSet: one pod at a time (OnDelete: none until pods are deleted).
    """
    if kind == "StatefulSet":
        strategy = workload_spec.get("updateStrategy") or {}
        assert isinstance(strategy, dict)
        return 0 if strategy.get("type") == "OnDelete" else min(1, desired)
    strategy = workload_spec.get("strategy") or {}
    assert isinstance(strategy, dict)
    if strategy.get("type") == "Recreate":
        return desired
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(desired * int(value.rstrip("%")) / 100)
    return int(value)


def may_restart(spec: RemediationPlaybookSpec, ready: int, desired: int, unavailable: int) -> Verdict:
    """Whether a rollout restart that takes ``unavailable`` ready pods away at once keeps minHealthy ready."""
    taken = min(unavailable, ready)  # unready pods are replaced without lowering the ready count
    if taken <= 0:
        return ALLOWED  # surge only, or nothing ready to take away
    floor = min_healthy(spec, desired)
    if ready - taken < floor:
        return Verdict(
            False,
            "MinHealthy",
            f"{ready} pods ready; a restart takes {taken} at a time and would leave fewer than minHealthy {floor}",
        )
    return ALLOWED
