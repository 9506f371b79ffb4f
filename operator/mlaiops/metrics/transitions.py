"""The loop's own numbers, found by comparing a status before and after a write (pure).

Each controller writes status once per transition, so the difference between the status it read
from the server and the status it wrote names each transition exactly once: a repeated pass finds
nothing new, and a restarted operator reads the transitions already written and counts none of them
again. The controllers call these after their write succeeded; ``mlaiops.metrics.operator`` counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mlaiops.api.incident import IncidentStatus
from mlaiops.api.modeldeployment import ModelDeploymentStatus, RolloutRecord
from mlaiops.api.remediationplaybook import (
    Action,
    RemediationPlaybookSpec,
    RemediationPlaybookStatus,
)
from mlaiops.api.retrainpolicy import RetrainPolicyStatus

RUN_OUTCOMES = frozenset({"Succeeded", "Promoted", "Rejected", "Expired", "Failed"})
"""Phases that end a retraining run (AwaitingApproval still ends in Promoted or Expired)."""
EXECUTION_OUTCOMES = frozenset({"Succeeded", "Failed", "Expired", "Refused", "Rejected", "DryRun"})
"""States that end a remediation execution (as ``remediation.ladder.FINAL_STATES``)."""


@dataclass
class RolloutTransitions:
    """Rollouts a ModelDeployment's write started, and (outcome, reason) of those it finished."""

    started: int = 0
    finished: list[tuple[str, str]] = field(default_factory=list)


def _record_key(record: RolloutRecord) -> tuple[object, ...]:
    return (record.version, record.storage_uri, record.outcome, record.reason, record.started_at, record.finished_at)


def rollouts(before: ModelDeploymentStatus, after: ModelDeploymentStatus) -> RolloutTransitions:
    """A rollout starts when ``rolloutStartedAt`` takes a new value and finishes when a history record appears.

    A rollback of the stable model on request records a RolledBack rollout without starting one: it
    undoes a rollout counted when it started, so rolled back / started stays the change failure rate.
    """
    found = RolloutTransitions()
    if after.rollout_started_at is not None and after.rollout_started_at != before.rollout_started_at:
        found.started = 1
    known = {_record_key(record) for record in before.history or []}
    found.finished = [(r.outcome, r.reason) for r in after.history or [] if _record_key(r) not in known]
    return found


@dataclass
class RetrainTransitions:
    """Triggers of the runs a RetrainPolicy's write started, and (trigger, outcome) of those it ended."""

    started: list[str] = field(default_factory=list)
    finished: list[tuple[str, str]] = field(default_factory=list)


def retrain_runs(before: RetrainPolicyStatus, after: RetrainPolicyStatus) -> RetrainTransitions:
    """Runs new in ``after`` started; runs whose phase became an outcome ended (a run may do both in one write)."""
    found = RetrainTransitions()
    old = {run.id: run.phase for run in before.runs or []}
    for run in after.runs or []:
        if run.id not in old:
            found.started.append(run.trigger)
        if run.phase in RUN_OUTCOMES and old.get(run.id) not in RUN_OUTCOMES:
            found.finished.append((run.trigger, run.phase))
    return found


@dataclass
class PlaybookTransitions:
    """Executions ended (outcome), steps ended (action type, outcome), notifications ended (channel, kind, outcome)."""

    executions: list[str] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)
    notifications: list[tuple[str, str, str]] = field(default_factory=list)


def _step_name(action: Action, index: int) -> str:
    """A step's name in status, as ``remediation.ladder.step_name`` gives it."""
    return action.name or f"{action.type}-{index}"


def _channel(action: Action | None) -> str:
    """Where a notify action posts: its body format (slack or generic)."""
    return action.notify.format if action is not None and action.notify is not None else "unknown"


def playbook(
    spec: RemediationPlaybookSpec, before: RemediationPlaybookStatus, after: RemediationPlaybookStatus
) -> PlaybookTransitions:
    """Every execution, step and notification whose result was written final in ``after`` and was not in ``before``.

    Step ``i`` of an execution runs action ``i`` of the spec; notifications (a notify step, an approval
    request, the circuit breaker's message) are found by their action's name.
    """
    found = PlaybookTransitions()
    by_name = {_step_name(action, index): action for index, action in enumerate(spec.actions)}
    old_states = {e.id: e.state for e in before.executions or []}
    old_steps = {(e.id, i): s.result for e in before.executions or [] for i, s in enumerate(e.steps or [])}
    old_requests = {
        (e.id, r.action): r.result for e in before.executions or [] if e.approval for r in e.approval.requests or []
    }
    old_circuit = {(r.action, r.started_at): r.result for r in before.notifications or []}

    def ended(result: str, previous: str | None) -> bool:
        return result != "Running" and previous in (None, "Running")

    for execution in after.executions or []:
        if execution.state in EXECUTION_OUTCOMES and old_states.get(execution.id) not in EXECUTION_OUTCOMES:
            found.executions.append(execution.state)
        for index, step in enumerate(execution.steps or []):
            if not ended(step.result, old_steps.get((execution.id, index))):
                continue
            action = spec.actions[index] if index < len(spec.actions) else by_name.get(step.action)
            kind = action.type if action is not None else "unknown"
            found.steps.append((kind, step.result))
            if kind == "notify":
                found.notifications.append((_channel(action), "step", step.result))
        for request in (execution.approval.requests or []) if execution.approval else []:
            if ended(request.result, old_requests.get((execution.id, request.action))):
                found.notifications.append((_channel(by_name.get(request.action)), "approval", request.result))
    for record in after.notifications or []:
        if ended(record.result, old_circuit.get((record.action, record.started_at))):
            found.notifications.append((_channel(by_name.get(record.action)), "circuitOpen", record.result))
    return found


@dataclass
class IncidentTransition:
    """Whether an Incident's write opened it, and how long it took to resolve when the write resolved it."""

    opened: bool = False
    resolved_after: float | None = None


def incident(before: IncidentStatus, after: IncidentStatus) -> IncidentTransition:
    """Opened: first written (or open again after it resolved). Resolved: phase Resolved newly written."""
    found = IncidentTransition()
    if after.phase is not None and after.phase != before.phase and (before.phase is None or after.phase == "Open"):
        found.opened = True
    if after.phase == "Resolved" and before.phase != "Resolved":
        found.resolved_after = _seconds_between(after.started_at, after.resolved_at)
    return found


def _seconds_between(start: datetime | None, end: datetime | None) -> float:
    """Seconds from ``start`` to ``end``; 0 when either is unknown or the clock went backwards."""
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())
