"""The retraining planner of a RetrainPolicy, pure: from spec, status and observations to a plan.

One call per reconcile pass: ``plan_pass`` follows the run in progress (its Job's outcome, the
gate, promotion), promotes or expires candidates awaiting approval, starts at most one run for
the triggers that fired, and returns the next status, the ordered actions and the events. It
never talks to the API or to MLflow and takes the time as an argument, so every decision is
unit-tested; the controller reads, plans, then carries the actions out in order.

Restart-safe: a new run is written to status (``RecordStatus``) before its Job is created, and a
recorded run whose Job is missing gets it again, named after the run, so never a second one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from mlaiops.api.annotations import APPROVE_ANNOTATION
from mlaiops.api.common import seconds
from mlaiops.api.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus, RunRecord
from mlaiops.resources.trainjob import job_name, training_job
from mlaiops.retrain import mlflow_lineage, runs
from mlaiops.retrain.outcome import job_outcome, last_run_condition, newest_finished

JSON = dict[str, Any]


@dataclass(frozen=True)
class Observed:
    """What the controller read this pass."""

    job: JSON | None = None
    """The Job of the active run, None when it does not exist (or there is no active run)."""
    pods: Sequence[JSON] = ()
    """The active run's pods, read once its Job finished (their termination messages are the result)."""
    rule_firings: Mapping[str, int] = field(default_factory=dict)
    """Firing counters of the AnomalyRules that trigger the policy."""
    request: str | None = None
    """The mlaiops.dev/retrain annotation (a manual or playbook request)."""
    approval: str | None = None
    """The mlaiops.dev/approve annotation (the run id a person approved)."""
    deployed: tuple[str, str | None] | None = None
    """(storage URI, sha256) the referenced ModelDeployment serves: the champion a candidate must beat."""
    rollout_history: Sequence[tuple[str | None, str | None]] = ()
    """(version, outcome) of the ModelDeployment's rollouts, newest first."""


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the RetrainPolicy."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class DeleteJob:
    """Delete the Job of a run this pass replaced (concurrencyPolicy Replace)."""

    name: str


@dataclass(frozen=True)
class RecordStatus:
    """Write the planned status now: a new run must be on the server before its Job exists."""


@dataclass(frozen=True)
class CreateJob:
    """Create a run's Job; ``missing`` when the run was recorded by an earlier pass that did not create it."""

    job: JSON
    run_id: str
    missing: bool = False


@dataclass(frozen=True)
class SyncMlflow:
    """Register finished candidates in the MLflow Model Registry and move its aliases."""


Action = DeleteJob | RecordStatus | CreateJob | SyncMlflow


@dataclass
class Plan:
    """What the controller should do, in order, and the status it writes at the end."""

    status: RetrainPolicyStatus
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """Who the plan is for and what it may not look up itself."""

    policy: str
    namespace: str
    image: str
    created: datetime
    generation: int


def champion(status: RetrainPolicyStatus, observed: Observed) -> tuple[str | None, str | None]:
    """The model a candidate must beat: what the ModelDeployment serves, else what this policy promoted."""
    if observed.deployed is not None:
        return observed.deployed
    if status.promoted is not None:
        return status.promoted.uri, status.promoted.sha256
    return None, None


def _job(spec: RetrainPolicySpec, status: RetrainPolicyStatus, observed: Observed, ctx: Context, rid: str) -> JSON:
    champion_uri, champion_sha = champion(status, observed)
    return training_job(ctx.policy, ctx.namespace, spec, rid, ctx.image, champion_uri, champion_sha)


def _numbers(value: Any) -> dict[str, float] | None:
    """A trainer's ``{name: number}`` map (fairness gaps), None when absent or empty; other values are dropped."""
    if not isinstance(value, dict):
        return None
    numbers = {str(k): float(v) for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return numbers or None


def promote(status: RetrainPolicyStatus, run: RunRecord, now: datetime) -> None:
    """Promote the run's model, carrying its top features and fairness gaps into ``status.promoted``."""
    promoted = runs.promote(status, run, now)
    promoted.top_features = run.top_features or None
    promoted.fairness = run.fairness


def _judge(spec: RetrainPolicySpec, plan: Plan, run: RunRecord, summary: JSON, now: datetime) -> None:
    """Gate a finished candidate: reject it, wait for approval, or promote it."""
    decision = runs.judge_result(spec, run, summary)
    run.fairness = _numbers(summary.get("fairness"))
    run.champion_fairness = _numbers(summary.get("championFairness"))
    mlflow_lineage.record_trainer_result(run, summary)
    if not decision.passed:
        run.phase, run.finished_at, run.decision = "Rejected", now, f"Rejected: {decision.summary}"
        plan.events.append(Event("Warning", "CandidateRejected", f"run {run.id}: {decision.summary}"))
    elif spec.promotion.mode == "manual":
        run.phase, run.decision = "AwaitingApproval", f"Passed: {decision.summary}; awaiting approval"
        message = f"run {run.id} passed; approve with annotation {APPROVE_ANNOTATION}={run.id}"
        plan.events.append(Event("Normal", "AwaitingApproval", message))
    else:
        promote(plan.status, run, now)
        run.decision = f"Promoted: {decision.summary}"
        plan.events.append(Event("Normal", "Promoted", f"run {run.id} promoted: {decision.summary}"))


def follow_run(spec: RetrainPolicySpec, plan: Plan, observed: Observed, ctx: Context, now: datetime) -> None:
    """The run in progress: Running once seen, its missing Job recreated, its result judged when it ends."""
    run = runs.active_run(plan.status)
    if run is None:
        return
    if run.phase == "Pending":
        run.phase = "Running"
    outcome = job_outcome(observed.job, observed.pods)
    if outcome is None:
        if observed.job is None and run.job is not None:
            plan.actions.append(CreateJob(_job(spec, plan.status, observed, ctx, run.id), run.id, missing=True))
        return
    if outcome.phase == "Failed":
        run.phase, run.finished_at, run.decision = "Failed", now, f"Failed: {outcome.message}"
        plan.events.append(Event("Warning", "RunFailed", f"run {run.id} failed: {outcome.message}"))
    else:
        _judge(spec, plan, run, outcome.summary or {}, now)


def follow_approvals(spec: RetrainPolicySpec, plan: Plan, approval: str | None, now: datetime) -> None:
    """Promote a candidate a person approved; expire those that waited longer than approvalTimeout."""
    timeout = timedelta(seconds=seconds(spec.promotion.approval_timeout))
    for waiting in [r for r in plan.status.runs or [] if r.phase == "AwaitingApproval"]:
        if approval == waiting.id:
            promote(plan.status, waiting, now)
            plan.events.append(Event("Normal", "Promoted", f"run {waiting.id} promoted after approval"))
        elif waiting.started_at and now - waiting.started_at > timeout:
            waiting.phase, waiting.finished_at = "Expired", now
            message = f"run {waiting.id} was not approved within {spec.promotion.approval_timeout}"
            plan.events.append(Event("Warning", "ApprovalExpired", message))


def start_run(spec: RetrainPolicySpec, plan: Plan, observed: Observed, ctx: Context, now: datetime) -> None:
    """At most one new run for the triggers that fired; each trigger is marked handled in status."""
    probe = plan.status.model_copy(deep=True)  # collect_triggers marks what it saw as handled
    request = observed.request
    triggers = runs.collect_triggers(spec, probe, now, ctx.created, request, dict(observed.rule_firings))
    plan.status = status = probe
    for trigger in triggers:
        allowed, why = runs.may_start(spec, status, now, trigger)
        if not allowed:
            plan.events.append(
                Event("Normal", "RunSkipped", f"{trigger.kind} trigger ({trigger.reason}) skipped: {why}")
            )
            continue
        replaced = runs.active_run(status)
        if replaced is not None:  # concurrencyPolicy Replace
            if replaced.job:
                plan.actions.append(DeleteJob(replaced.job))
            replaced.phase, replaced.finished_at = "Failed", now
            replaced.decision = "Failed: replaced by a newer scheduled run"
        rid = runs.run_id(now)
        job = _job(spec, status, observed, ctx, rid)
        runs.start_run(status, spec, trigger, now, job_name(ctx.policy, rid), rid)
        plan.actions += [RecordStatus(), CreateJob(job, rid)]
        plan.events.append(Event("Normal", "RunStarted", f"run {rid} started by {trigger.kind}: {trigger.reason}"))
        return


def follow_rollout(status: RetrainPolicyStatus, history: Sequence[tuple[str | None, str | None]]) -> None:
    """Record what the ModelDeployment did with promoted models (Promoted or RolledBack)."""
    outcomes = dict(reversed(history))  # the newest record of a version wins
    for run in status.runs or []:
        if run.phase == "Promoted" and run.id in outcomes and run.rollout_outcome != outcomes[run.id]:
            run.rollout_outcome = outcomes[run.id]


def phase(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus
) -> Literal["Suspended", "Training", "AwaitingApproval", "Failed", "Idle"]:
    """The printer column: Suspended, Training, AwaitingApproval, Failed (the newest finished run failed) or Idle."""
    if spec.suspend:
        return "Suspended"
    if runs.active_run(status):
        return "Training"
    if any(r.phase == "AwaitingApproval" for r in status.runs or []):
        return "AwaitingApproval"
    last = newest_finished(status)
    if last is not None and last.phase == "Failed":
        return "Failed"
    return "Idle"


def plan_pass(
    spec: RetrainPolicySpec,
    previous: RetrainPolicyStatus | None,
    observed: Observed,
    now: datetime,
    ctx: Context,
) -> Plan:
    """The next status, the actions in the order they must run, and the events, for one reconcile pass."""
    status = (previous or RetrainPolicyStatus()).model_copy(deep=True)
    status.observed_generation = ctx.generation
    plan = Plan(status=status)
    follow_run(spec, plan, observed, ctx, now)
    follow_approvals(spec, plan, observed.approval, now)
    start_run(spec, plan, observed, ctx, now)
    follow_rollout(plan.status, observed.rollout_history)
    if spec.mlflow is not None:
        plan.actions.append(SyncMlflow())
    else:
        mlflow_lineage.forget(plan.status)
    last_run_condition(plan.status, now, ctx.generation)
    plan.status.phase = phase(spec, plan.status)
    return plan
